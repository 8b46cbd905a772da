"""The runbooks' alert rules (deploy/prometheus/rules/remedy-runbooks.yml): valid for
promtool, each firing exactly when its runbook says (promtool test rules on synthetic
series: remedy-runbooks.test.yml), each reaching its playbook through the bridge's
Router with the shipped inventory (tests/test_compose.py: loaded by the compose
Prometheus), and -- end to end -- evaluated by a real Prometheus whose alert goes
through a real Alertmanager and the bridge to a Temporal incident running the right
playbook.

The end-to-end run cannot wait out a 1-minute `for` inside the suite's budget, and the
rule file is used as shipped. Instead Prometheus starts as it would after a restart in
the middle of an outage: its TSDB (backfilled with `promtool tsdb create-blocks-from
openmetrics`) holds the alert's pending state (`ALERTS_FOR_STATE`, active since two
minutes ago) and `up == 0`, and `--rules.alert.for-grace-period` (default 10m, longer
than the rule's `for`) is lowered to the rule's 1m so that Prometheus restores that
state rather than restarting the clock. The `for` timing itself is promtool's to test.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from temporalio.client import Client

from activities.inventory import load_inventory
from bridge.routing import Router, severity_of
from bridge.server import build_server
from tests.bridge.conftest import dev_server, make_settings, temporal  # noqa: F401
from tests.bridge.helpers import TOKEN
from tests.fixtures.alertmanager import AlertmanagerFactory
from tests.fixtures.process import free_port, http_ready, running
from tests.fixtures.prometheus import prometheus_binary
from workflows.registry import ROUTES

ROOT = Path(__file__).parents[1]
PROM_DIR = ROOT / "deploy" / "prometheus"
RULES = PROM_DIR / "rules" / "remedy-runbooks.yml"
RULE_TESTS = PROM_DIR / "rules" / "remedy-runbooks.test.yml"
INVENTORY = ROOT / "examples" / "inventory.yaml"
PROMTOOL_HINT = "promtool not installed (apt-get install prometheus)"

# (alertname, service) -> the playbook the shipped inventory routes it to.
EXPECTED = {
    ("TestPassRateLow", "genesis-orchestration"): "TestPassRateLow",
    ("HighErrorRate", "genesis-orchestration"): "HighErrorRate",
    ("HighLatencyP95", "genesis-orchestration"): "HighLatencyP95",
    ("GenesisServiceDown", "genesis-orchestration"): "ServiceDown",
    ("ApplicationDown", "agent-lab"): "ApplicationDown",
    ("HighErrorRate", "agent-lab"): "AgentLabHighErrorRate",
    ("StreamingFailure", "agent-lab"): "StreamingFailure",
    ("PerformanceDegradation", "agent-lab"): "PerformanceDegradation",
}
# Routes whose runbook trigger is no Prometheus signal (security monitoring, the data
# integrity check, CI/CD): no rule, named in the rule file's header instead.
NOT_PROMETHEUS = {"SecurityIncident", "DataCorruption", "DeploymentFailure"}


def promtool() -> str:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip(PROMTOOL_HINT)
    return exe


def shipped_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def test_promtool_check_rules() -> None:
    out = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(EXPECTED)} rules found" in out.stdout


def test_each_rule_fires_exactly_when_its_runbook_says() -> None:
    out = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # Every shipped alert has a "not yet" and a "firing" case in the unit tests.
    tests = yaml.safe_load(RULE_TESTS.read_text())
    assert tests["rule_files"] == [RULES.name]
    cases = [c for t in tests["tests"] for c in t.get("alert_rule_test", [])]
    for rule in shipped_rules():
        name = rule["alert"]
        service = rule["labels"]["service"]
        firing = [
            c
            for c in cases
            if c["alertname"] == name
            and any(a["exp_labels"]["service"] == service for a in c["exp_alerts"])
        ]
        assert firing, f"{name} ({service}): no test where it fires"
        for case in firing:
            at = parse_minutes(case["eval_time"])
            before = [
                c
                for c in cases
                if c["alertname"] == name
                and parse_minutes(c["eval_time"]) == at - 1
                and not c["exp_alerts"]
            ]
            assert before, f"{name} ({service}): not checked one evaluation before {at}m"


def parse_minutes(value: str) -> int:
    assert value.endswith("m"), value
    return int(value[:-1])


RUNBOOKS = ROOT / "docs" / "runbooks"
# The Agent Lab playbook headings of the alerts that have a rule.
AGENT_LAB_PLAYBOOKS = {
    "ApplicationDown": "Application Down",
    "HighErrorRate": "High Error Rate",
    "StreamingFailure": "Streaming Failure",
    "PerformanceDegradation": "Performance Degradation",
}


def test_for_and_severity_are_the_runbooks() -> None:
    """`for` and severity as the runbook text states them (docs/runbooks/)."""
    rules = {(r["alert"], r["labels"]["service"]): r for r in shipped_rules()}
    genesis = (RUNBOOKS / "genesis-incident-response-playbook.md").read_text()
    stated = re.findall(
        r"\*\*Alert:\*\* `(\w+)`\s*\n\*\*Severity:\*\* (P\d).*?"
        r"\*\*Trigger:\*\* [^\n]*? for (\d+) minutes?",
        genesis,
        re.S,
    )
    assert {a for a, _, _ in stated} == {
        "TestPassRateLow",
        "HighErrorRate",
        "HighLatencyP95",
        "GenesisServiceDown",
    }
    for alert, severity, minutes in stated:
        rule = rules[(alert, "genesis-orchestration")]
        assert (rule["for"], rule["labels"]["severity"]) == (f"{minutes}m", severity), alert
    agent_lab = (RUNBOOKS / "agent-lab-incident-playbooks.md").read_text()
    for alert, heading in AGENT_LAB_PLAYBOOKS.items():
        m = re.search(rf"^## Playbook: {heading} \((P\d)\)$", agent_lab, re.M)
        assert m, heading
        assert rules[(alert, "agent-lab")]["labels"]["severity"] == m.group(1), alert
    # The one Agent Lab threshold the runbook states: "detects >1% error rate".
    assert "detects >1% error rate" in agent_lab
    assert "> 0.01" in rules[("HighErrorRate", "agent-lab")]["expr"]


def test_every_rule_reaches_its_playbook() -> None:
    router = Router(load_inventory(INVENTORY))
    seen = {}
    for rule in shipped_rules():
        labels = {"alertname": rule["alert"], **rule["labels"]}
        assert severity_of(labels) is not None, f"{rule['alert']}: severity {labels}"
        route = router.route(labels)
        seen[(rule["alert"], labels["service"])] = route.playbook
        assert rule["for"] and rule["annotations"]["runbook"]
    assert seen == EXPECTED
    # Every default route has a rule, but the three whose runbook source is not Prometheus.
    assert set(ROUTES) - {name for name, _ in seen} == NOT_PROMETHEUS
    header = RULES.read_text().split("groups:")[0]
    for name in NOT_PROMETHEUS:
        assert name in header
    # Remedy's own rules stay apart: only theirs page people directly.
    assert not any(name.startswith("Remedy") for name, _ in seen)


# ------------------------------------------------------------------ end to end
@contextmanager
def failing_metrics_endpoint() -> Iterator[int]:
    """A loopback /metrics that answers 503: the scrape fails, `up` is 0."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"service unavailable\n"
            self.send_response(503)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def om_labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def backfill_outage(data: Path, instance: str, now: float) -> None:
    """The TSDB of a Prometheus restarted mid-outage: genesis down, and GenesisServiceDown
    pending since two minutes ago, last recorded 30 s ago."""
    rule = next(r for r in shipped_rules() if r["alert"] == "GenesisServiceDown")
    target = {"job": "genesis-orchestration", "instance": instance}
    alert = {"alertname": "GenesisServiceDown", **target, **rule["labels"]}
    active_at = int(now) - 120
    stamps = range(active_at, int(now) - 29, 15)
    lines = ["# TYPE up gauge"]
    lines += [f"up{om_labels(target)} 0 {t}" for t in stamps]
    lines += ["# TYPE ALERTS_FOR_STATE gauge"]
    lines += [f"ALERTS_FOR_STATE{om_labels(alert)} {active_at} {t}" for t in stamps]
    lines += ["# EOF"]
    src = data.parent / "outage.om"
    src.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [promtool(), "tsdb", "create-blocks-from", "openmetrics", str(src), str(data)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@contextmanager
def prometheus_with_shipped_rules(d: Path, metrics_port: int, alertmanager: str) -> Iterator[str]:
    binary = prometheus_binary()
    if binary is None:
        pytest.skip("prometheus binary not found: apt-get install -y prometheus")
    port = free_port()
    instance = f"127.0.0.1:{metrics_port}"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],  # the shipped file, unchanged
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {"job_name": "genesis-orchestration", "static_configs": [{"targets": [instance]}]}
        ],
    }
    (d / "prometheus.yml").write_text(yaml.safe_dump(config))
    backfill_outage(d / "data", instance, time.time())
    argv = [
        binary,
        f"--config.file={d / 'prometheus.yml'}",
        f"--storage.tsdb.path={d / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--rules.alert.for-grace-period=1m",  # = the rule's `for`: restore, not restart
        # Alertmanager is discovered a few seconds after the first evaluations; what fires
        # before is dropped and sent again only after this delay (default 1m).
        "--rules.alert.resend-delay=1s",
        "--log.level=warn",
    ]
    url = f"http://127.0.0.1:{port}"
    with running(argv, d / "prometheus.log", http_ready(f"{url}/-/ready"), name="prometheus"):
        yield url


async def until(pred: Callable[[], Any], what: str, timeout_s: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        got = await pred()
        if got:
            return got
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_prometheus_alert_starts_the_right_playbook(
    temporal: Client,  # noqa: F811
    alertmanager: AlertmanagerFactory,
    tmp_path: Path,
) -> None:
    inventory = load_inventory(INVENTORY)
    settings = make_settings()
    port = free_port()
    server = build_server(settings, inventory, "127.0.0.1", port, client=temporal)
    serving = asyncio.create_task(server.serve())
    try:
        await until(lambda: asyncio.sleep(0, server.started), "the bridge to listen")
        am = alertmanager.start(f"http://127.0.0.1:{port}/alertmanager", TOKEN)
        with (
            failing_metrics_endpoint() as metrics_port,
            prometheus_with_shipped_rules(
                tmp_path, metrics_port, am.url.removeprefix("http://")
            ) as prom,
        ):
            async with httpx.AsyncClient(base_url=prom, timeout=5) as http:

                async def firing() -> dict[str, str] | None:
                    alerts = (await http.get("/api/v1/alerts")).json()["data"]["alerts"]
                    return next(
                        (
                            a["labels"]
                            for a in alerts
                            if a["labels"]["alertname"] == "GenesisServiceDown"
                            and a["state"] == "firing"
                        ),
                        None,
                    )

                labels = await until(firing, "GenesisServiceDown to fire in Prometheus")
            assert labels["service"] == "genesis-orchestration" and labels["severity"] == "P0"
            route = Router(inventory).route(labels)
            assert route.playbook == "ServiceDown", route.reason

            async def started() -> str | None:
                async for wf in temporal.list_workflows():
                    if wf.id == route.workflow_id:
                        return wf.workflow_type
                return None

            try:
                workflow_type = await until(started, f"{route.workflow_id} to start")
            except AssertionError as e:
                raise AssertionError(f"{e}\nAlertmanager log:\n{am.log()[-3000:]}") from None
        assert workflow_type == "ServiceDown"
        desc = await temporal.get_workflow_handle(route.workflow_id).describe()
        assert desc.workflow_type == "ServiceDown"
    finally:
        server.should_exit = True
        await serving
