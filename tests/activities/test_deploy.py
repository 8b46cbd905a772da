"""activities/deploy.py against the real sshd fixture: maintenance mode run once per key
(and not at all in dry-run), and the deploy checks (startup logs, import check, smoke
test) in a real git checkout."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from activities.deploy import DeployActivities
from activities.inventory import CommandSpec, ServiceSpec
from tests.fixtures.gitrepo import commit, git
from tests.fixtures.sshd import HOST_NAME, SshServer
from workflows.contracts.diagnostics import DiagCommand
from workflows.contracts.policy import AgentLabSpec
from workflows.contracts.safety import SafetyOverrides
from workflows.contracts.service import DeployCommandInput, MaintenanceInput, MaintenanceSpec

SVC = "agent-lab"

LOG = """\
2024-05-01 10:00:00,001 INFO started
2024-05-01 10:00:01,002 ERROR OpenRouter timeout after 30s
2024-05-01 10:00:02,003 ERROR KeyError: 'session_id'
2024-05-01 10:00:03,004 ERROR OpenRouter timeout after 30s
2024-05-01 10:00:04,005 WARNING slow
2024-05-01 10:00:05,006 ERROR OpenRouter timeout after 30s
2024-05-01 10:00:06,007 ERROR KeyError: 'session_id'
2024-05-01 10:00:07,008 ERROR CSV write failed; token=sk-secret-123
"""


def lab_acts(sshd: SshServer, tmp_path: Path, **svc: Any) -> DeployActivities:
    site = tmp_path / "www"
    site.mkdir(exist_ok=True)
    lab = AgentLabSpec(
        port=svc.pop("port", None),
        maintenance=MaintenanceSpec(
            enable=DiagCommand(
                argv=["cp", str(site / "maintenance.html"), str(site / "index.html")]
            ),
            disable=DiagCommand(
                argv=["cp", str(site / "index.html.backup"), str(site / "index.html")]
            ),
        ),
        **svc.pop("lab", {}),
    )
    spec = ServiceSpec(
        hosts=[HOST_NAME],
        log_files=[str(tmp_path / "app.log")],
        data_dir=str(tmp_path / "data"),
        agent_lab=lab,
        **svc,
    )
    return DeployActivities(sshd.inventory({SVC: spec}))


@pytest.fixture
def app_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "app"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    for i in range(12):
        commit(repo, {"app.py": f"VERSION = {i}\n"}, f"change {i}")
    return repo


def log_acts(sshd: SshServer, tmp_path: Path, repo: Path, **svc: object) -> DeployActivities:
    log = tmp_path / "app.log"
    log.write_text(LOG)
    spec: dict[str, object] = (
        dict(
            hosts=[HOST_NAME],
            log_files=[str(log)],
            source_repo=str(repo),
            commands={"logs": CommandSpec(argv=["tail", "-n", "3", str(log)])},
        )
        | svc
    )
    return DeployActivities(sshd.inventory({"agent-lab": ServiceSpec(**spec)}))  # type: ignore[arg-type]


async def test_maintenance_on_off_once_per_key(sshd: SshServer, tmp_path: Path) -> None:
    site = tmp_path / "www"
    a = lab_acts(sshd, tmp_path)
    (site / "maintenance.html").write_text("down for maintenance")
    (site / "index.html.backup").write_text("the app")
    (site / "index.html").write_text("the app")
    key = f"incident:{uuid.uuid4()}:maintenance-enable"
    on = await a.maintenance(MaintenanceInput(service=SVC, mode="enable", idempotency_key=key))
    assert on.ok and not on.replayed and (site / "index.html").read_text() == "down for maintenance"
    (site / "index.html").write_text("edited by a human")
    again = await a.maintenance(MaintenanceInput(service=SVC, mode="enable", idempotency_key=key))
    assert again.ok and again.replayed and (site / "index.html").read_text() == "edited by a human"
    off = await a.maintenance(
        MaintenanceInput(service=SVC, mode="disable", idempotency_key=key + "-off")
    )
    assert off.ok and (site / "index.html").read_text() == "the app"


async def test_maintenance_dry_run_touches_nothing(sshd: SshServer, tmp_path: Path) -> None:
    a = lab_acts(sshd, tmp_path, safety=SafetyOverrides(dry_run=True))
    res = await a.maintenance(
        MaintenanceInput(service=SVC, mode="enable", idempotency_key=f"k:{uuid.uuid4()}")
    )
    assert res.dry_run and "DRY RUN: would run `cp" in res.detail
    assert not (tmp_path / "www" / "index.html").exists()


async def test_deploy_checks_startup_logs_import_smoke(
    sshd: SshServer, tmp_path: Path, app_repo: Path
) -> None:
    py = sys.executable
    a = log_acts(
        sshd,
        tmp_path,
        app_repo,
        import_check=CommandSpec(
            argv=[py, "-c", "import app; print('Import OK')"], cwd=str(app_repo)
        ),
        smoke_test=CommandSpec(argv=[py, "-c", "import sys; print('1 failed'); sys.exit(1)"]),
    )
    logs = await a.deploy_command(DeployCommandInput(service="agent-lab", kind="startup_logs"))
    assert logs.ok and len(logs.excerpt) == 3 and "[REDACTED]" in logs.excerpt[-1]
    imp = await a.deploy_command(DeployCommandInput(service="agent-lab", kind="import_check"))
    assert imp.ok and imp.excerpt == ["Import OK"]
    commit(app_repo, {"app.py": "import nonexistent_module\n"}, "bad deploy")
    imp = await a.deploy_command(DeployCommandInput(service="agent-lab", kind="import_check"))
    assert not imp.ok and "ModuleNotFoundError" in imp.excerpt[-1]
    smoke = await a.deploy_command(DeployCommandInput(service="agent-lab", kind="smoke_test"))
    assert smoke.exit_status == 1 and not smoke.ok and smoke.excerpt == ["1 failed"]
    # Not configured: a result that says so, nothing run.
    bare = log_acts(sshd, tmp_path, app_repo)
    none = await bare.deploy_command(DeployCommandInput(service="agent-lab", kind="smoke_test"))
    assert not none.configured and not none.ok
