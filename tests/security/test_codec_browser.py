"""A real browser against the real `remedy codec-server` process: a page on the UI's
origin (another port on the same host, as the Temporal UI is) signs in and then decodes
with `credentials: "include"` -- what the UI does with "Include cross-origin
credentials" on. Proves the browser stores the session cookie and sends it cross-origin,
and that CORS lets the page read the answer; without signing in it gets 401."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from remedy.codec import AesGcmCodec, new_key_spec, parse_keys
from tests.fixtures.process import free_port, http_ready, running

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REMEDY = str(Path(sys.executable).parent / "remedy")
TOKEN = "browser-test-token-0123456789abcdef"

PAGE = """<!doctype html><meta charset="utf-8"><pre id="out">pending</pre><script>
const C = %(codec)s, BODY = %(body)s, TOKEN = %(token)s;
const json = {"Content-Type": "application/json"};
(async () => {
  const out = document.getElementById("out");
  try {
    let r = await fetch(C + "/decode", {method: "POST", credentials: "include",
                                         headers: json, body: BODY});
    const before = r.status;
    r = await fetch(C + "/login", {method: "POST", credentials: "include",
      headers: {"Content-Type": "application/x-www-form-urlencoded"},
      body: "token=" + encodeURIComponent(TOKEN)});
    const login = r.status;
    r = await fetch(C + "/decode", {method: "POST", credentials: "include",
                                     headers: json, body: BODY});
    const after = r.status, j = await r.json();
    out.textContent = JSON.stringify({before, login, after,
                                      data: j.payloads ? j.payloads[0].data : null});
  } catch (e) { out.textContent = "ERROR " + e; }
})();
</script>"""


@pytest.fixture
def ui_origin(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static server standing in for the Temporal UI's origin."""
    root = tmp_path / "ui"
    root.mkdir()
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()


async def test_browser_signs_in_and_decodes_cross_origin(
    ui_origin: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    origin, root = ui_origin
    keys = new_key_spec("k1")
    port = free_port()
    for name, value in {
        "REMEDY_CODEC_KEYS": keys,
        "REMEDY_CODEC_SERVER_TOKEN": TOKEN,
        "REMEDY_CODEC_SERVER_PORT": str(port),
        "REMEDY_CODEC_SERVER_CORS_ORIGINS": origin,
    }.items():
        monkeypatch.setenv(name, value)
    codec_url = f"http://127.0.0.1:{port}"
    secret = b"rotate the key on genesis-prod"
    stored = await AesGcmCodec(parse_keys(keys)).encode([Payload(data=secret)])
    assert secret not in stored[0].data
    body = json.dumps({"payloads": [json_format.MessageToDict(p) for p in stored]})
    (root / "index.html").write_text(
        PAGE
        % {"codec": json.dumps(codec_url), "body": json.dumps(body), "token": json.dumps(TOKEN)}
    )

    with running(
        [REMEDY, "codec-server"],
        tmp_path / "codec.log",
        http_ready(f"{codec_url}/healthz"),
        name="remedy codec-server",
        timeout_s=30,
    ):
        res = await asyncio.to_thread(
            subprocess.run,
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--virtual-time-budget=5000",
                "--dump-dom",
                f"{origin}/index.html",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'<pre id="out">(.*?)</pre>', res.stdout, re.S)
    assert m, res.stdout[-2000:]
    text = m.group(1).replace("&quot;", '"')
    assert not text.startswith(("ERROR", "pending")), text  # a CORS refusal reads as ERROR
    result = json.loads(text)
    assert result["before"] == 401  # no session yet: refused, and CORS let the page see it
    assert result["login"] == 200
    assert result["after"] == 200
    assert base64.b64decode(result["data"]) == secret
