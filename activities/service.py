"""Service commands (status, restart, rollback steps, ...) resolved from the inventory.

A workflow names a service and a command *slot*; the argv comes from the inventory
(or, for rollback steps, is derived from the service's `rollback` settings:
activities/inventory/services.py, resolve_command), so an alert label can select a
command but never shape one.

Idempotency (DESIGN principle 6). A side effect carries a key (the incident run's key,
workflows/incident.Steps.run_key, + step).
The key is recorded *on the target*, in the same SSH round trip that runs the command,
by the fixed script `KEYED_SCRIPT` (activities/scripts.py). Protocol:

- positional parameters only: `$1` state dir (relative => under $HOME), `$2` sha256 hex
  of the key (computed here, so the key never reaches a path unescaped), `$3` the key
  (stored for humans), `$4` how many seconds a replay waits for a running first
  attempt, `$5` retention in days, `$6` cwd ("" = home), then the argv. Stdin is
  forwarded to the command.
- `mkdir "$state/$keyhash"` is the atomic claim. The claimer records key, argv and a
  UTC timestamp, then runs the argv *detached* (SIGHUP ignored, every fd on files in
  the marker dir), so the command completes even if the SSH session drops, and finally
  writes `rc` atomically (rc.tmp + mv) plus `finished_at`.
- After a fresh run, markers whose `rc` is older than the retention are removed
  (unfinished claims are never pruned: a human must look at those), and so are
  mitigation backups (`mitigations/<hash>/`) last changed before the retention.
- If the claim fails, the key ran (or is running): wait up to `$4` s for `rc`, then
  return the recorded output.
- Output: the first stderr line is the marker `remedy-idempotency: <state> <keyhash>`
  with state `ran` | `replayed` | `unknown` | `error`; then the recorded stderr, the
  recorded stdout on stdout, and the recorded exit status as the exit status.
  `unknown` (no rc within the bound, or the runner died) raises IdempotencyUnknown:
  a human must look; retrying could run the side effect twice. `error` (state dir not
  creatable: nothing ran) is returned as a plain failed result, exit status 125.
- A first attempt still running when its SSH timeout (`$4` + 15 s) hits raises the
  retryable CommandTimeout; the command keeps running, and the retry waits for its rc.
"""

from __future__ import annotations

import hashlib
import math
import shlex

from temporalio import activity

from activities.errors import app_error
from activities.inventory import CommandSpec, HostSpec, Inventory, ServiceSpec, resolve_command
from activities.scripts import KEYED_SCRIPT
from activities.ssh import run_checked, run_on_host
from activities.ssh_policy import check_argv, check_service_command
from workflows.contracts.service import (
    SERVICE_RESTART,
    SERVICE_RUN,
    CommandKind,
    ServiceCommandInput,
    ServiceCommandResult,
)
from workflows.contracts.ssh import CommandResult

MAX_OUTPUT_BYTES = 64 * 1024
MARKER = "remedy-idempotency:"
# The ssh timeout of a keyed run exceeds the script's own wait bound by this much, so a
# replay that waits out its bound reports `unknown` instead of being cut off.
_KEYED_MARGIN_S = 15.0


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def keyed_argv(host: HostSpec, spec: CommandSpec, key: str) -> list[str]:
    """The argv a keyed run sends: KEYED_SCRIPT, its six parameters, then the command."""
    argv = ["sh", "-c", spec.argv[0]] if spec.shell else spec.argv
    return [
        "sh",
        "-c",
        KEYED_SCRIPT,
        "remedy-keyed",
        host.state_dir,
        key_hash(key),
        key,
        str(math.ceil(spec.timeout_s)),
        str(host.state_retention_days),
        spec.cwd or "",
        *argv,
    ]


async def run_keyed(
    inventory: Inventory,
    service: str,
    host_name: str,
    spec: CommandSpec,
    *,
    key: str,
    max_output_bytes: int = MAX_OUTPUT_BYTES,
    stdin: bytes | None = None,
) -> tuple[CommandResult, bool]:
    """Run `spec` at most once per `key` on the host. Returns (result, replayed).

    The whole wrapped argv -- the fixed KEYED_SCRIPT and the command it runs -- must
    pass `service`'s allowlist (activities/ssh_policy.py) before anything is sent."""
    host = inventory.host(host_name)
    wait_s = math.ceil(spec.timeout_s)
    h = key_hash(key)
    full = keyed_argv(host, spec, key)
    check_argv(inventory, service, full)  # the script byte-exact, the command it wraps too
    res = await run_on_host(
        host_name,
        host,
        full,
        timeout_s=wait_s + _KEYED_MARGIN_S,
        max_output_bytes=max_output_bytes,
        stdin=stdin,
        kill_on_timeout=False,
    )
    first, _, rest = res.stderr.partition("\n")
    words = first.split()
    if len(words) != 3 or words[0] != MARKER or words[2] != h:
        raise app_error(
            "IdempotencyUnknown",
            f"{host_name}: keyed run {h[:12]} gave no marker (exit {res.exit_status}): "
            f"{res.stderr[:500]!r}",
        )
    state = words[1]
    if state == "unknown":
        raise app_error(
            "IdempotencyUnknown",
            f"{host_name}: {spec.argv[0]} for key {key!r} started earlier and recorded no "
            f"exit status within {wait_s}s; inspect {host.state_dir}/{h}",
        )
    # `error`: the state dir could not be created, so nothing ran; the exit status and
    # mkdir's message are the result.
    result = res.model_copy(update={"argv": spec.argv, "stderr": rest})
    return result, state == "replayed"


def resolve_host(svc_name: str, svc: ServiceSpec, host: str | None) -> str:
    name = host or svc.hosts[0]
    if name not in svc.hosts:
        raise app_error("UnknownHost", f"host {name!r} is not one of service {svc_name!r}'s hosts")
    return name


def dry_run_result(inp: ServiceCommandInput, host: str, spec: CommandSpec) -> ServiceCommandResult:
    argv = ["sh", "-c", spec.argv[0]] if spec.shell else spec.argv
    cwd = f" (in {spec.cwd})" if spec.cwd else ""
    return ServiceCommandResult(
        service=inp.service,
        command=inp.command,
        result=CommandResult(
            host=host,
            argv=spec.argv,
            exit_status=0,
            stdout=f"DRY RUN: would run `{shlex.join(argv)}` on {host}{cwd}",
        ),
        dry_run=True,
    )


class ServiceActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @activity.defn(name=SERVICE_RUN.name)
    async def run(self, inp: ServiceCommandInput) -> ServiceCommandResult:
        svc = self.inventory.service(inp.service)
        host_name = resolve_host(inp.service, svc, inp.host)
        spec = resolve_command(inp.service, svc, inp.command)
        check_service_command(self.inventory, inp.service, spec)  # before anything is sent
        replayed = False
        if inp.idempotency_key and self.inventory.safety_for(inp.service).dry_run:
            # Dry-run: a keyed command is a side effect; say what it would be, touch nothing.
            # (Unkeyed commands are diagnostics -- status, logs -- and still run.)
            return dry_run_result(inp, host_name, spec)
        if inp.idempotency_key:
            result, replayed = await run_keyed(
                self.inventory, inp.service, host_name, spec, key=inp.idempotency_key
            )
        else:
            result = await run_checked(
                self.inventory,
                inp.service,
                host_name,
                spec.argv,
                timeout_s=spec.timeout_s,
                max_output_bytes=MAX_OUTPUT_BYTES,
                cwd=spec.cwd,
                shell=spec.shell,
            )
        return ServiceCommandResult(
            service=inp.service, command=inp.command, result=result, replayed=replayed
        )

    @activity.defn(name=SERVICE_RESTART.name)
    async def restart(self, inp: ServiceCommandInput) -> ServiceCommandResult:
        """Restart, exactly once per idempotency key. `inp.command` is ignored."""
        if not inp.idempotency_key:
            raise app_error(
                "IdempotencyKeyRequired", f"restart of {inp.service!r} needs an idempotency key"
            )
        return await self.run(inp.model_copy(update={"command": CommandKind.RESTART}))
