"""Named mitigations: the runbooks' `cat > config/llm_fallback.yaml <<EOF` and
`sed -i 's/level=DEBUG/level=INFO/' config/logging.yaml`, as inventory entries.

The playbook picks a mitigation *name* from its diagnosis; path and content come from
the inventory (never from an alert). Each apply runs once per (incident run, name) through
the keyed runner of activities/service.py, so a retried activity never writes twice
and replays the first write's answer.

Backup, on the host, under the host's state dir: `mitigations/<sha256(run key:name)>/`
holds `path`, and either `original` (the file as it was before this incident's first
write) or `absent` (there was no file). `restore` puts the original back -- or removes
the file the mitigation created -- so the service returns to the configuration as it
was before *this* incident: the next incident of the same alert has its own backup,
taken from the file as an operator may have changed it in between. Backups are pruned
with the idempotency markers (activities/service.py, `state_retention_days`).

The edit happens on the host (awk, literal text, no regex): file content never makes
a round trip through the worker, where output redaction would corrupt secrets in it.
"""

from __future__ import annotations

import posixpath

from temporalio import activity

from activities.errors import app_error
from activities.inventory import CommandSpec, Inventory, ServiceSpec
from activities.scripts import APPLY_SCRIPT, RESTORE_SCRIPT
from activities.service import key_hash, run_keyed
from workflows.contracts.mitigation import (
    MITIGATION_APPLY,
    MITIGATION_RESTORE,
    MitigationInput,
    MitigationResult,
    MitigationSpec,
)


def target_path(svc: ServiceSpec, spec: MitigationSpec) -> str:
    # Relative paths read like the runbook's (config/...): relative to the deployment.
    base = svc.rollback.repo_path if svc.rollback else ""
    return posixpath.join(base, spec.path) if base else spec.path


def backup_dir(state_dir: str, incident_id: str, name: str) -> str:
    return posixpath.join(state_dir, "mitigations", key_hash(f"{incident_id}:{name}"))


class MitigationActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def _resolve(self, inp: MitigationInput) -> tuple[MitigationSpec, str, str, str]:
        svc = self.inventory.service(inp.service)
        spec = svc.mitigations.get(inp.name)
        if spec is None:
            raise app_error(
                "CommandNotConfigured",
                f"service {inp.service!r} has no mitigation {inp.name!r} "
                f"(has: {sorted(svc.mitigations)})",
            )
        host_name = svc.hosts[0]
        host = self.inventory.host(host_name)
        return (
            spec,
            host_name,
            target_path(svc, spec),
            backup_dir(host.state_dir, inp.incident_id, inp.name),
        )

    @activity.defn(name=MITIGATION_APPLY.name)
    async def apply(self, inp: MitigationInput) -> MitigationResult:
        spec, host_name, path, bak = self._resolve(inp)
        if self.inventory.safety_for(inp.service).dry_run:
            # Nothing is sent to the host: no write, no backup. `restart` says whether the
            # real change would have asked for one, so the dry run shows that step too.
            change = (
                f"replace {spec.replace.old!r} with {spec.replace.new!r} in"
                if spec.replace
                else f"write {len(spec.content or '')} bytes to"
            )
            return MitigationResult(
                name=inp.name,
                path=f"{host_name}:{path}",
                changed=False,
                restart=spec.restart,
                dry_run=True,
                detail=f"DRY RUN: would {change} {host_name}:{path}",
            )
        mode = "write" if spec.content is not None else "replace"
        old, new = (spec.replace.old, spec.replace.new) if spec.replace else ("", "")
        script = CommandSpec(
            argv=["sh", "-c", APPLY_SCRIPT, "remedy-mitigate", mode, path, bak, old, new]
        )
        res, replayed = await run_keyed(
            self.inventory,
            inp.service,
            host_name,
            script,
            key=f"{inp.incident_id}:mitigation:{inp.name}",
            max_output_bytes=4096,
            stdin=(spec.content or "").encode(),
        )
        first = res.stdout.strip().split(":", 1)[0]
        if not res.ok or first not in ("changed", "unchanged"):
            raise app_error(
                "MitigationFailed",
                f"{inp.name} on {host_name}:{path}: exit {res.exit_status}: "
                f"{(res.stderr or res.stdout).strip()[:300]}",
            )
        return MitigationResult(
            name=inp.name,
            path=f"{host_name}:{path}",
            changed=first == "changed",
            restart=spec.restart and first == "changed",
            replayed=replayed,
            backup=bak,
            detail=res.stdout.strip()[:300],
        )

    @activity.defn(name=MITIGATION_RESTORE.name)
    async def restore(self, inp: MitigationInput) -> MitigationResult:
        spec, host_name, path, bak = self._resolve(inp)
        if self.inventory.safety_for(inp.service).dry_run:
            return MitigationResult(
                name=inp.name,
                path=f"{host_name}:{path}",
                changed=False,
                restart=False,
                dry_run=True,
                detail=f"DRY RUN: would restore {host_name}:{path} from its backup",
            )
        script = CommandSpec(argv=["sh", "-c", RESTORE_SCRIPT, "remedy-restore", path, bak])
        res, replayed = await run_keyed(
            self.inventory,
            inp.service,
            host_name,
            script,
            key=f"{inp.incident_id}:mitigation-restore:{inp.name}",
            max_output_bytes=4096,
        )
        if not res.ok:
            raise app_error(
                "MitigationFailed",
                f"restore {inp.name} on {host_name}:{path}: exit {res.exit_status}: "
                f"{(res.stderr or res.stdout).strip()[:300]}",
            )
        word = res.stdout.strip().split(":", 1)[0]
        return MitigationResult(
            name=inp.name,
            path=f"{host_name}:{path}",
            changed=word in ("restored", "removed"),
            restart=False,
            replayed=replayed,
            backup=bak,
            detail=res.stdout.strip()[:300],
        )
