"""Commands on the service's host around a deployment (declared in
workflows/contracts/service.py, next to restart):

- deploy checks (`agentlab.deploy_command`), Agent Lab "Deployment Failure": startup logs
  (`journalctl -u agent-lab -n 50` where configured, else the service's `logs`), the
  import check, the smoke tests -- inventory argv lists, read-only; the last lines of
  their output come back;
- maintenance mode on/off (`agentlab.maintenance`): inventory argv lists, run once per
  key (run_keyed), and not at all in dry-run.

Captured output is redacted by the ssh layer before it is returned.
"""

from __future__ import annotations

from temporalio import activity

from activities.errors import app_error
from activities.inventory import CommandSpec, Inventory, ServiceSpec
from activities.inventory.services import DEFAULT_IMPORT_CHECK
from activities.service import resolve_command, resolve_host, run_keyed
from activities.ssh import run_checked
from activities.ssh_policy import check_argv
from workflows.contracts.diagnostics import clip
from workflows.contracts.service import (
    AGENTLAB_MAINTENANCE,
    DEPLOY_COMMAND,
    CommandKind,
    DeployCommandInput,
    DeployCommandResult,
    MaintenanceInput,
    MaintenanceResult,
)

EXCERPT_LINES = 20
__all__ = ["DEFAULT_IMPORT_CHECK"]  # re-exported


class DeployActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @activity.defn(name=DEPLOY_COMMAND.name)
    async def deploy_command(self, inp: DeployCommandInput) -> DeployCommandResult:
        svc = self.inventory.service(inp.service)
        host = resolve_host(inp.service, svc, None)
        spec = self._deploy_spec(inp, svc)
        if spec is None:
            return DeployCommandResult(kind=inp.kind, configured=False)
        res = await run_checked(
            self.inventory,
            inp.service,
            host,
            spec.argv,
            timeout_s=spec.timeout_s,
            max_output_bytes=256 * 1024,
            cwd=spec.cwd,
            shell=spec.shell,
        )
        text = (res.stdout + ("\n" + res.stderr if res.stderr.strip() else "")).strip()
        return DeployCommandResult(
            kind=inp.kind,
            exit_status=res.exit_status,
            excerpt=[clip(ln) for ln in text.splitlines()[-EXCERPT_LINES:]],
        )

    def _deploy_spec(self, inp: DeployCommandInput, svc: ServiceSpec) -> CommandSpec | None:
        if inp.kind == "startup_logs":
            # `journalctl -u agent-lab -n 50` where configured, else the service's logs.
            return svc.startup_logs or resolve_command(inp.service, svc, CommandKind.LOGS)
        if inp.kind == "import_check":
            if svc.import_check is not None:
                return svc.import_check
            suite = svc.commands.get(CommandKind.TEST_SUITE)
            return CommandSpec(argv=DEFAULT_IMPORT_CHECK, cwd=suite.cwd if suite else None)
        # As resolve_command (CommandKind.SMOKE_TEST): commands.smoke_test, else smoke_test.
        return svc.commands.get(CommandKind.SMOKE_TEST) or svc.smoke_test

    @activity.defn(name=AGENTLAB_MAINTENANCE.name)
    async def maintenance(self, inp: MaintenanceInput) -> MaintenanceResult:
        svc = self.inventory.service(inp.service)
        if svc.agent_lab is None:
            raise app_error(
                "CommandNotConfigured", f"service {inp.service!r} has no agent_lab section"
            )
        host = resolve_host(inp.service, svc, None)
        m = svc.agent_lab.maintenance
        if m is None:
            raise app_error(
                "CommandNotConfigured", f"service {inp.service!r} has no maintenance commands"
            )
        cmd = m.enable if inp.mode == "enable" else m.disable
        check_argv(self.inventory, inp.service, cmd.argv)  # before the dry-run answer too
        if self.inventory.safety_for(inp.service).dry_run:
            return MaintenanceResult(
                mode=inp.mode,
                ok=True,
                exit_status=0,
                dry_run=True,
                detail=f"DRY RUN: would run `{' '.join(cmd.argv)}` on {host}",
            )
        spec = CommandSpec(argv=cmd.argv, timeout_s=cmd.timeout_s)
        res, replayed = await run_keyed(
            self.inventory,
            inp.service,
            host,
            spec,
            key=inp.idempotency_key,
            max_output_bytes=4096,
        )
        return MaintenanceResult(
            mode=inp.mode,
            ok=res.ok,
            exit_status=res.exit_status,
            replayed=replayed,
            detail=(res.stderr or res.stdout).strip()[:300],
        )
