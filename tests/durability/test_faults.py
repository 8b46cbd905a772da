"""Faults on real components, with the production worker's activities
(worker.activities_for) on the time-skipping server, so retries, backoffs, the 5-minute
page and the 24-hour hold pass at their real lengths in seconds of wall time.

The runbook's answer to each fault: SSH that cannot be trusted or reached -> escalate to
a human, never "resolved"; Prometheus down or without data -> the verification fails
("no data" is never "improved"); Slack / PagerDuty failing -> recorded, and remediation
goes on without waiting for them.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker
from activities.inventory import CommandSpec, Inventory, ServiceSpec, SliSpec
from remedy.settings import Settings
from tests.fixtures.httpsink import HttpSink, SinkResponse
from tests.fixtures.prometheus import free_port, prometheus_binary, running_prometheus
from tests.fixtures.sshd import SshServer, Supervisor
from tests.workflows.verify_harness import VerifyHarness
from workflows.contracts.safety import SafetyOverrides
from workflows.contracts.service import CommandKind
from workflows.models import Alert, IncidentInput, PlaybookResult, VerifyResult
from workflows.registry import PLAYBOOKS, SUPPORT_WORKFLOWS


def settings_for(tmp_path: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": tmp_path,
        "incident_log_fallback": tmp_path / "incidents.log",
        "prometheus_url": "http://127.0.0.1:9",
        "task_queue": f"faults-{uuid.uuid4().hex[:8]}",
    }
    return Settings(_env_file=None, **(base | kw))  # type: ignore[call-arg]


async def run(
    env: WorkflowEnvironment,
    inv: Inventory,
    settings: Settings,
    service: str,
    playbook: str = "ServiceDown",
    result_type: type = PlaybookResult,
) -> Any:
    # No blast-radius governor here: these tests are about SSH, Prometheus and
    # notification faults. (On the time-skipping server, the governor's permit -- an
    # update sent from inside an activity -- can stall while the server skips time past
    # Slack's retry timers; the governor is tested on a real dev server in
    # tests/workflows/test_safety.py and under kill -9 in test_chaos.py.)
    inv = inv.model_copy(update={"safety": SafetyOverrides(governor=False)})
    async with Worker(
        env.client,
        task_queue=settings.task_queue,
        workflows=[*PLAYBOOKS.values(), *SUPPORT_WORKFLOWS.values(), VerifyHarness],
        activities=worker.activities_for(inv, settings),
    ):
        return await env.client.execute_workflow(
            playbook,
            IncidentInput(alert=Alert(alertname="GenesisServiceDown", service=service)),
            id=f"incident:faults:{service}:{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
            result_type=result_type,
        )


def demo_down(supervisor: Supervisor) -> None:
    subprocess.run(supervisor.argv("stop", "demo"), capture_output=True, check=False)
    assert supervisor.pid() == 0


# ------------------------------------------------------------------ SSH
def unreachable(sshd: SshServer, tmp: Path) -> dict[str, Any]:
    return {"port": free_port(), "connect_timeout_s": 1.0}


def auth_refused(sshd: SshServer, tmp: Path) -> dict[str, Any]:
    return {"private_key_file": sshd.other_client_key}


def host_key_changed(sshd: SshServer, tmp: Path) -> dict[str, Any]:
    known = tmp / "known_hosts_changed"
    known.write_text(sshd.known_hosts_line(sshd.other_host_key_pub))
    return {"known_hosts_file": known}


SSH_FAULTS = {
    "HostUnreachable": unreachable,
    "AuthenticationFailed": auth_refused,
    "HostKeyChanged": host_key_changed,
}


@pytest.mark.parametrize("error_type", list(SSH_FAULTS))
async def test_ssh_fault_escalates_and_never_resolves(
    time_env: WorkflowEnvironment,
    sshd: SshServer,
    supervisor: Supervisor,
    tmp_path: Path,
    error_type: str,
) -> None:
    demo_down(supervisor)
    inv = sshd.inventory(
        {"demo": supervisor.service_spec()}, **SSH_FAULTS[error_type](sshd, tmp_path)
    )
    res = await run(time_env, inv, settings_for(tmp_path), "demo")
    assert res.outcome == "escalated" and res.paged, res.timeline
    failed = [e for e in res.timeline if e.outcome == "failed"]
    assert any(e.step == "restart" and error_type in e.detail for e in failed), failed
    # One line, written at the hand-over as escalated: never "resolved via" anything.
    [line] = (tmp_path / "incidents.log").read_text().splitlines()
    assert "Escalated to a person" in line and "Resolved" not in line
    assert supervisor.pid() == 0  # and indeed nothing ran on the host


# ------------------------------------------------------------------ Prometheus
@pytest.fixture
def own_prometheus(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Prometheus of this test's own, so the test can stop the process."""
    binary = prometheus_binary()
    if binary is None:
        pytest.skip("prometheus binary not found: apt-get install -y prometheus")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_prometheus(binary, tmp_path, port) as proc:
        yield url, proc


def sli_inventory(sshd: SshServer, query: str) -> Inventory:
    spec = ServiceSpec(
        hosts=["local"],
        slis={"error_rate": SliSpec(query=query, comparison="ge", threshold=1)},
    )
    return sshd.inventory({"svc": spec})


async def verify(
    env: WorkflowEnvironment, sshd: SshServer, tmp_path: Path, url: str, query: str
) -> VerifyResult:
    settings = settings_for(tmp_path, prometheus_url=url)
    inv = sli_inventory(sshd, query)
    res: VerifyResult = await run(env, inv, settings, "svc", "VerifyHarness", VerifyResult)
    return res


async def test_prometheus_stopped_fails_verification(
    time_env: WorkflowEnvironment,
    sshd: SshServer,
    tmp_path: Path,
    own_prometheus: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, proc = own_prometheus
    # While it runs: the full 10-minute window holds on a real answer (`vector(1)`: the
    # window reads its skipped slots as of 30 s ago, before this fresh Prometheus had
    # scraped anything; the time-skipping clock runs 10 minutes in a second) ...
    up = await verify(time_env, sshd, tmp_path, url, "vector(1)")
    assert up.held and up.samples >= 20, up
    # ... stopped: the first sample is missing and the window fails at once.
    proc.kill()
    proc.wait()
    down = await verify(time_env, sshd, tmp_path, url, 'up{job="prometheus"}')
    assert not down.held and down.broken_by == "missing" and down.samples == 1, down
    assert "reach" in down.detail or "unreachable" in down.detail, down.detail


async def test_prometheus_without_data_fails_verification(
    time_env: WorkflowEnvironment, sshd: SshServer, tmp_path: Path, prometheus_url: str
) -> None:
    res = await verify(time_env, sshd, tmp_path, prometheus_url, "remedy_no_such_metric_total")
    assert not res.held and res.broken_by == "missing" and res.samples == 1, res
    assert "no_data" in res.detail, res.detail


# ------------------------------------------------------------------ Slack / PagerDuty
def notify_settings(tmp_path: Path, sink: HttpSink) -> Settings:
    return settings_for(
        tmp_path,
        slack_webhook_url=SecretStr(f"{sink.url}/slack/T000/B000/secret"),
        pagerduty_url=f"{sink.url}/pagerduty",
        pagerduty_routing_key=SecretStr("routing-key-0123456789abcdef0123456789"),
    )


ANSWERS = {
    "429": SinkResponse(429, "rate limited", headers={"Retry-After": "120"}),
    "500": SinkResponse(500, "internal error"),
}


@pytest.mark.parametrize("answer", list(ANSWERS))
async def test_notifications_failing_never_delay_the_restart(
    time_env: WorkflowEnvironment,
    sshd: SshServer,
    supervisor: Supervisor,
    httpsink: HttpSink,
    tmp_path: Path,
    answer: str,
) -> None:
    httpsink.default = ANSWERS[answer]
    demo_down(supervisor)
    inv = sshd.inventory({"demo": supervisor.service_spec()})
    res = await run(time_env, inv, notify_settings(tmp_path, httpsink), "demo")
    assert res.outcome == "resolved" and res.action == "restart", res.timeline
    assert supervisor.pid() > 0
    steps = {e.step: e for e in res.timeline}
    # Slack was tried (and retried) and failed; the restart did not wait for it.
    assert steps["slack: Active"].outcome == "failed"
    assert steps["restart"].at - res.detected_at < timedelta(seconds=15), steps["restart"]
    assert sum(r.path.startswith("/slack") for r in httpsink.requests) >= 2  # retried


@pytest.mark.parametrize("answer", list(ANSWERS))
async def test_notifications_failing_never_stop_an_escalation(
    time_env: WorkflowEnvironment,
    sshd: SshServer,
    supervisor: Supervisor,
    httpsink: HttpSink,
    tmp_path: Path,
    answer: str,
) -> None:
    httpsink.default = ANSWERS[answer]
    demo_down(supervisor)
    spec = supervisor.service_spec()
    spec.commands[CommandKind.RESTART] = CommandSpec(argv=["false"])  # no rollback either
    inv = sshd.inventory({"demo": spec})
    res = await run(time_env, inv, notify_settings(tmp_path, httpsink), "demo")
    assert res.outcome == "escalated" and res.paged, res.timeline
    outcome = {e.step: e.outcome for e in res.timeline}
    # Pages by level (steps/paging.py): on-call and the commander; each failed, none stopped it.
    pages = {s: o for s, o in outcome.items() if s.startswith("pagerduty: trigger")}
    assert pages and set(pages.values()) == {"failed"}, pages
    assert outcome["slack: Escalated"] == "failed"
    assert any(r.path == "/pagerduty" for r in httpsink.requests)
    # One line, written at the hand-over as escalated: never "resolved via" anything.
    [line] = (tmp_path / "incidents.log").read_text().splitlines()
    assert "Escalated to a person" in line and "Resolved" not in line


async def test_before_the_patch_a_failing_slack_delayed_the_restart(
    time_env: WorkflowEnvironment,
    sshd: SshServer,
    supervisor: Supervisor,
    httpsink: HttpSink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why NONBLOCKING_FIRST_UPDATE exists: runs on the old branch waited out Slack's
    retries (6 attempts, 2 s doubling: ~1 minute at 500) before restarting."""
    import temporalio.workflow

    monkeypatch.setattr(temporalio.workflow, "patched", lambda _id: False)
    httpsink.default = ANSWERS["500"]
    demo_down(supervisor)
    inv = sshd.inventory({"demo": supervisor.service_spec()})
    res = await run(time_env, inv, notify_settings(tmp_path, httpsink), "demo")
    restart = next(e for e in res.timeline if e.step == "restart")
    assert res.outcome == "resolved" and restart.at - res.detected_at > timedelta(seconds=60)
