"""The post-incident record: one line in the incident log, in the seeds' exact format

    Incident: <alertname> - Resolved via <action>

(Genesis: `echo "Incident: TestPassRateLow - Resolved via [action]" >> logs/incidents.log`).
Other tools grep that log, so nothing is added to the line; the incident id and time
live in workflow history.

Where: the service's `incident_log` file on its first host (over SSH; a relative path is
relative to the rollback repo if the service has one, as the seed's `logs/incidents.log`
is, else to the login home), or `settings.local_incident_log` on the worker.

Once per (incident, line): Temporal retries an activity whose result was lost, and a
duplicate line would read as a second incident. Remotely the append runs through the
keyed runner of activities/service.py; locally a sidecar `<log>.ids` file, under an
flock, remembers what was written.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import re
from pathlib import Path

from temporalio import activity

from activities.inventory import CommandSpec, Inventory
from activities.inventory.services import incident_log_argv
from activities.service import run_keyed
from remedy.settings import Settings
from workflows.contracts.records import INCIDENT_LOG, IncidentLogInput, IncidentLogResult

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def incident_line(alertname: str, action: str, *, escalated: bool = False) -> str:
    # Alert labels are untrusted: a newline in one must not forge a second log line.
    how = "Escalated to a person" if escalated else "Resolved via"
    return f"Incident: {_CONTROL.sub(' ', alertname)} - {how} {_CONTROL.sub(' ', action)}"


def _record_id(incident_id: str, line: str) -> str:
    return hashlib.sha256(f"{incident_id}\0{line}".encode()).hexdigest()


def append_local(path: Path, line: str, incident_id: str) -> bool:
    """Append `line` unless this incident already wrote it. True if appended now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rid = _record_id(incident_id, line)
    ids = path.with_name(path.name + ".ids")
    with ids.open("a+") as idf:
        # The lock serializes concurrent activities (several worker slots) on one file.
        fcntl.flock(idf, fcntl.LOCK_EX)
        idf.seek(0)
        if rid in (seen.strip() for seen in idf):
            return False
        with path.open("a") as log:
            log.write(line + "\n")
        idf.write(rid + "\n")
    return True


class RecordsActivities:
    def __init__(self, inventory: Inventory, settings: Settings) -> None:
        self.inventory = inventory
        self.settings = settings

    @activity.defn(name=INCIDENT_LOG.name)
    async def incident_log(self, inp: IncidentLogInput) -> IncidentLogResult:
        """`written` is True when the log holds the line, whether this attempt wrote it
        or an earlier one did; False (with a warning) when the remote append failed."""
        line = incident_line(inp.alertname, inp.action, escalated=inp.escalated)
        svc = self.inventory.service(inp.service)
        host_name = svc.hosts[0]
        where = (
            str(self.settings.local_incident_log)
            if svc.incident_log is None
            else f"{host_name}:{svc.incident_log}"
        )
        if self.inventory.safety_for(inp.service).dry_run:
            # Other tools grep this log: a dry run's "Resolved via restart" would be a lie.
            return IncidentLogResult(written=False, dry_run=True, where=where, line=line)
        if svc.incident_log is None:
            path = self.settings.local_incident_log
            await asyncio.to_thread(append_local, path, line, inp.incident_id)
            return IncidentLogResult(written=True, where=where, line=line)

        cwd = svc.rollback.repo_path if svc.rollback else None
        # `tee -a` with the line on stdin: the line is data, never part of a command.
        spec = CommandSpec(argv=incident_log_argv(svc.incident_log), cwd=cwd, timeout_s=30)
        result, _ = await run_keyed(
            self.inventory,
            inp.service,
            host_name,
            spec,
            key=f"{inp.incident_id}/incident-log/{line}",
            max_output_bytes=4096,
            stdin=(line + "\n").encode(),
        )
        if not result.ok:
            if activity.in_activity():
                activity.logger.warning(
                    "incident log append failed on %s: exit %s: %s",
                    where,
                    result.exit_status,
                    result.stderr.strip(),
                )
            return IncidentLogResult(written=False, where=where, line=line)
        return IncidentLogResult(written=True, where=where, line=line)
