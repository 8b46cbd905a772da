"""Workflows decide, activities act: no workflow module may bring an I/O library along.

Run in a fresh interpreter so that modules imported by other tests don't hide a leak.
(`socket` itself is imported by asyncio, which the SDK needs; what we forbid are the
libraries that *use* it for us: paramiko, httpx and friends, and our own activities.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = (
    "paramiko",
    "httpx",
    "httpcore",
    "cryptography",
    "requests",
    "urllib3",
    "aiohttp",
    "fastapi",
    "uvicorn",
    "starlette",
    "yaml",
    "activities",
    "bridge",
    "remedy",
)

PROBE = """
import importlib, json, pkgutil, sys
import workflows
names = []
for m in pkgutil.walk_packages(workflows.__path__, "workflows."):
    importlib.import_module(m.name)
    names.append(m.name)
print(json.dumps({"modules": names, "loaded": sorted(sys.modules)}))
"""


def test_workflow_modules_import_no_io_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    data = json.loads(out.stdout)
    assert "workflows.playbooks.service_down" in data["modules"]  # the walk found playbooks
    leaked = sorted({m for m in data["loaded"] if m.split(".")[0] in FORBIDDEN})
    assert leaked == [], f"workflow modules pulled in I/O modules: {leaked}"


def test_probe_would_catch_a_leak() -> None:
    """The check above can fail: importing an activity module is detected."""
    probe = PROBE.replace("import workflows\n", "import workflows, activities.ssh\n")
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)["loaded"]
    assert "paramiko" in loaded
