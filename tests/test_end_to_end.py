"""End to end below the bridge: the production worker (every real activity) runs
ServiceDown against a real process under supervisord, over a real sshd, with a real git
checkout to roll back -- on the time-skipping server, so the runbook's 30 s / 10 s waits
pass at their real length without wall-clock time."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

import worker
from activities.inventory import CommandSpec, RollbackSpec
from remedy.settings import Settings
from tests.fixtures.gitrepo import bad_deployment, git
from tests.fixtures.sshd import SshServer, Supervisor
from workflows.contracts.safety import SafetyOverrides
from workflows.contracts.service import CommandKind
from workflows.models import Alert, IncidentInput, PlaybookResult
from workflows.playbooks.service_down import ServiceDown


async def run(
    env: WorkflowEnvironment, inventory, settings: Settings, service: str
) -> PlaybookResult:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"task_queue": f"e2e-{uuid.uuid4()}"})
    # Without the blast-radius governor: on the time-skipping server its permit (an
    # update sent from inside an activity) can stall while the server skips time. It
    # runs for real on the dev server in test_safety.py and test_chaos.py.
    inventory = inventory.model_copy(update={"safety": SafetyOverrides(governor=False)})
    async with worker.build_worker(env.client, inventory, settings):
        return await env.client.execute_workflow(
            ServiceDown.run,
            IncidentInput(alert=Alert(alertname="GenesisServiceDown", service=service)),
            id=f"incident:GenesisServiceDown:{service}:{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
        )


def settings_for(tmp_path: Path) -> Settings:
    # Slack / PagerDuty unset: recorded as skipped. Prometheus is not used by ServiceDown.
    return Settings(
        data_dir=tmp_path,
        incident_log_fallback=tmp_path / "incidents.log",
        prometheus_url="http://127.0.0.1:9",
    )


async def test_crashed_process_is_restarted(
    time_env: WorkflowEnvironment, sshd: SshServer, supervisor: Supervisor, tmp_path: Path
) -> None:
    subprocess.run(supervisor.argv("stop", "demo"), check=True, capture_output=True)  # noqa: ASYNC221
    assert supervisor.pid() == 0  # the service is down
    inv = sshd.inventory({"demo": supervisor.service_spec()})
    res = await run(time_env, inv, settings_for(tmp_path), "demo")
    assert res.outcome == "resolved" and res.action == "restart", res.timeline
    assert supervisor.pid() > 0  # really running again
    assert (tmp_path / "incidents.log").read_text().splitlines() == [
        "Incident: GenesisServiceDown - Resolved via restart"
    ]
    skipped = {e.step for e in res.timeline if e.outcome == "skipped"}
    assert "slack: Active" in skipped  # not configured -> skipped, not failed


async def test_failed_restart_is_rolled_back_for_real(
    time_env: WorkflowEnvironment, sshd: SshServer, supervisor: Supervisor, tmp_path: Path
) -> None:
    work, stable = bad_deployment(tmp_path)
    subprocess.run(supervisor.argv("stop", "demo"), check=True, capture_output=True)  # noqa: ASYNC221
    spec = supervisor.service_spec(
        rollback=RollbackSpec(
            repo_path=str(work),
            config_dir=str(work / "config"),
            config_backup_dir=str(work / "config" / "backup"),
        ),
    )
    # The restart itself fails (e.g. the bad deploy breaks the unit): rollback must follow.
    spec.commands[CommandKind.RESTART] = CommandSpec(argv=["false"])
    spec.commands[CommandKind.HEALTH_CHECK] = CommandSpec(
        argv=["test", "-f", str(work / "config" / "app.yaml")]
    )
    inv = sshd.inventory({"genesis": spec})
    res = await run(time_env, inv, settings_for(tmp_path), "genesis")
    assert res.outcome == "resolved" and res.action == "rollback", res.timeline
    assert git("rev-parse", "HEAD", cwd=work) == stable
    assert not (work / "junk.tmp").exists()
    assert (work / "config" / "app.yaml").read_text() == "good: true\n"
    assert supervisor.pid() > 0
    steps = [e.step for e in res.timeline if e.outcome == "ok"]
    for step in (
        "stop service",
        "reset to stable ref",
        "restore configuration",
        "start service",
        "verify active",
        "health check",
        "rollback complete",
    ):
        assert step in steps, step


async def test_unreachable_host_escalates_never_resolves(
    time_env: WorkflowEnvironment, sshd: SshServer, supervisor: Supervisor, tmp_path: Path
) -> None:
    from tests.fixtures.sshd import free_port

    inv = sshd.inventory(
        {"demo": supervisor.service_spec()}, port=free_port(), connect_timeout_s=1.0
    )
    res = await run(time_env, inv, settings_for(tmp_path), "demo")
    assert res.outcome == "escalated"
    assert any("HostUnreachable" in e.detail for e in res.timeline)
    # Logged once, as escalated at the hand-over: never "resolved" by an unreachable host.
    [line] = (tmp_path / "incidents.log").read_text().splitlines()
    assert "Incident: GenesisServiceDown - Escalated to a person" in line
    assert "Resolved" not in line
