"""activities/records.py: the seed's exact incident-log line, locally and over SSH."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.inventory import Inventory, RollbackSpec, ServiceSpec
from activities.records import RecordsActivities
from remedy.settings import Settings
from tests.fixtures.sshd import HOST_NAME, SshServer
from workflows.contracts.records import IncidentLogInput

SEED_LINE = "Incident: TestPassRateLow - Resolved via rollback\n"


def entry(service: str, incident_id: str, action: str = "rollback") -> IncidentLogInput:
    return IncidentLogInput(
        service=service, alertname="TestPassRateLow", action=action, incident_id=incident_id
    )


def acts(inv: Inventory, local_log: Path) -> RecordsActivities:
    return RecordsActivities(inv, Settings(incident_log_fallback=local_log))


async def test_local_fallback_writes_the_seed_line_once_per_incident(
    sshd: SshServer, tmp_path: Path
) -> None:
    log = tmp_path / "data" / "logs" / "incidents.log"
    a = acts(sshd.inventory({"svc": ServiceSpec(hosts=[HOST_NAME])}), log)
    r = await ActivityEnvironment().run(a.incident_log, entry("svc", "inc-1"))
    assert r.written and r.where == str(log) and r.line + "\n" == SEED_LINE
    assert log.read_text() == SEED_LINE
    await a.incident_log(entry("svc", "inc-1"))  # a retry: no duplicate
    assert log.read_text() == SEED_LINE
    await a.incident_log(entry("svc", "inc-2"))  # another incident: its own line
    assert log.read_text() == SEED_LINE * 2


async def test_label_cannot_forge_a_second_line(sshd: SshServer, tmp_path: Path) -> None:
    log = tmp_path / "incidents.log"
    a = acts(sshd.inventory({"svc": ServiceSpec(hosts=[HOST_NAME])}), log)
    inp = entry("svc", "inc-x").model_copy(update={"alertname": "A\nIncident: Fake - Resolved"})
    await a.incident_log(inp)
    assert log.read_text() == "Incident: A Incident: Fake - Resolved - Resolved via rollback\n"


async def test_over_ssh_relative_to_the_repo(sshd: SshServer, tmp_path: Path) -> None:
    repo = tmp_path / "genesis-rebuild"
    (repo / "logs").mkdir(parents=True)
    svc = ServiceSpec(
        hosts=[HOST_NAME],
        incident_log="logs/incidents.log",
        rollback=RollbackSpec(repo_path=str(repo)),
    )
    local = tmp_path / "local.log"
    a = acts(sshd.inventory({"genesis": svc}), local)
    incident = uuid.uuid4().hex
    r = await a.incident_log(entry("genesis", incident))
    assert r.written and r.where == f"{HOST_NAME}:logs/incidents.log"
    assert (repo / "logs" / "incidents.log").read_text() == SEED_LINE
    await a.incident_log(entry("genesis", incident))  # retried: recorded once
    await a.incident_log(entry("genesis", incident, action="restart"))
    assert (repo / "logs" / "incidents.log").read_text() == (
        SEED_LINE + "Incident: TestPassRateLow - Resolved via restart\n"
    )
    assert not local.exists()


async def test_over_ssh_absolute_path_and_failure(sshd: SshServer, tmp_path: Path) -> None:
    ok = tmp_path / "abs.log"
    services = {
        "ok": ServiceSpec(hosts=[HOST_NAME], incident_log=str(ok)),
        "broken": ServiceSpec(hosts=[HOST_NAME], incident_log=str(tmp_path / "no" / "x.log")),
    }
    a = acts(sshd.inventory(services), tmp_path / "local.log")
    assert (await a.incident_log(entry("ok", uuid.uuid4().hex))).written
    assert ok.read_text() == SEED_LINE
    r = await a.incident_log(entry("broken", uuid.uuid4().hex))
    assert not r.written and r.line + "\n" == SEED_LINE


async def test_dry_run_appends_nothing_anywhere(sshd: SshServer, tmp_path: Path) -> None:
    """A dry run's "Resolved via restart" would be a false record for whoever greps the
    log: nothing is appended, on the host or locally, and the result says so."""
    from workflows.contracts.safety import SafetyOverrides

    remote = tmp_path / "remote.log"
    dry = SafetyOverrides(dry_run=True)
    services = {
        "remote": ServiceSpec(hosts=[HOST_NAME], incident_log=str(remote), safety=dry),
        "local": ServiceSpec(hosts=[HOST_NAME], safety=dry),
    }
    local = tmp_path / "local.log"
    a = acts(sshd.inventory(services), local)
    r = await a.incident_log(entry("remote", uuid.uuid4().hex))
    assert r.dry_run and not r.written and r.where == f"{HOST_NAME}:{remote}"
    loc = await a.incident_log(entry("local", uuid.uuid4().hex))
    assert loc.dry_run and not loc.written and loc.where == str(local)
    assert not remote.exists() and not local.exists()
