"""The demo service `remedy demo` breaks and Remedy heals: stdlib only, loopback only.

    python service.py --port 8100 --home DIR

- GET /health: 200 {"status": "ok"} while running.
- GET /metrics: Prometheus text: demo_requests_total, demo_errors_total{category}
  (synthetic traffic, 20 operations/s, generated inside the process).
- Fault injection, two ways: POST /control/errors (or the file DIR/fault containing
  "errors") makes 30 % of operations fail with "LLM API error: rate limit exceeded";
  POST /control/crash exits the process at once (exit status 70).
- DIR/config/llm_fallback.yaml present at start (the HighErrorRate runbook's scenario A
  mitigation, written by Remedy) -> LLM errors no longer happen (heuristic fallback).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ERROR_SHARE = 0.3


class State:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.lock = threading.Lock()
        self.requests = 0
        self.errors = 0
        self.fallback = (home / "config" / "llm_fallback.yaml").exists()
        (home / "logs").mkdir(parents=True, exist_ok=True)
        self.log_path = home / "logs" / "service.log"

    def faulty(self) -> bool:
        f = self.home / "fault"
        return not self.fallback and f.exists() and f.read_text().strip() == "errors"

    def line(self, level: str, msg: str) -> None:
        with self.log_path.open("a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {level} {msg}\n")

    def traffic(self) -> None:
        while True:
            time.sleep(0.05)
            fail = self.faulty() and random.random() < ERROR_SHARE
            with self.lock:
                self.requests += 1
                self.errors += fail
            if fail and self.errors % 20 == 1:
                self.line("ERROR", "LLM API error: rate limit exceeded (openai)")


def handler(state: State) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, code: int, body: str, ctype: str = "application/json") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/health":
                self._send(200, json.dumps({"status": "ok", "llm_fallback": state.fallback}))
            elif self.path == "/metrics":
                with state.lock:
                    r, e = state.requests, state.errors
                self._send(
                    200,
                    "# TYPE demo_requests_total counter\n"
                    f"demo_requests_total {r}\n"
                    "# TYPE demo_errors_total counter\n"
                    f'demo_errors_total{{category="llm"}} {e}\n',
                    "text/plain; version=0.0.4",
                )
            else:
                self._send(404, "{}")

        def do_POST(self) -> None:  # noqa: N802
            if self.path == "/control/errors":
                (state.home / "fault").write_text("errors")
                state.line("WARNING", "fault injected: high error rate")
                self._send(200, '{"fault": "errors"}')
            elif self.path == "/control/crash":
                state.line("ERROR", "fault injected: crash")
                self._send(200, '{"fault": "crash"}')
                os._exit(70)
            else:
                self._send(404, "{}")

    return H


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--home", type=Path, required=True)
    a = p.parse_args()
    state = State(a.home)
    state.line("INFO", f"started (llm fallback {'on' if state.fallback else 'off'})")
    threading.Thread(target=state.traffic, daemon=True).start()
    ThreadingHTTPServer(("127.0.0.1", a.port), handler(state)).serve_forever()


if __name__ == "__main__":
    main()
