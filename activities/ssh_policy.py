"""What may be sent over SSH, and what captured output may keep (issue 8, SSH hardening).

- Command allowlist, per service: `services.X.allowed_commands` lists the programs
  (argv[0], matched exactly -- `systemctl` does not admit `/tmp/x/systemctl`) the
  service's commands may run. Default: the programs of the service's own configured
  and derived commands. A shell command (`shell: true`) counts as program `sh`, since
  the shell can run anything: allowing one is allowing `sh`. Checked before a byte is
  sent; a refusal is the non-retryable `CommandNotAllowed`.
- Redaction: captured stdout/stderr is scrubbed of secret-looking text before it
  becomes an activity result -- that is, before it enters workflow history. The
  patterns belong to the inventory's `redact:` section (activities/inventory/redact.py,
  where DEFAULT_REDACT, `redact` and MASK are defined); they are handed on from here.
"""

from __future__ import annotations

from pydantic import BaseModel

from activities.errors import app_error
from activities.inventory import CommandSpec, Inventory, ServiceSpec, resolve_command
from activities.inventory.redact import (
    DEFAULT_PATTERNS,
    DEFAULT_REDACT,
    MASK,
    compile_patterns,
    redact,
)
from workflows.contracts.service import CommandKind

__all__ = [
    "DEFAULT_PATTERNS",
    "DEFAULT_REDACT",
    "MASK",
    "allowed_programs",
    "check_host_command",
    "check_service_command",
    "compile_patterns",
    "program",
    "redact",
]


# ---------------------------------------------------------------- allowlist
def program(spec: CommandSpec) -> str:
    return "sh" if spec.shell else spec.argv[0]


def allowed_programs(name: str, svc: ServiceSpec) -> frozenset[str]:
    if svc.allowed_commands is not None:
        return frozenset(svc.allowed_commands)
    # Derived through resolve_command so derived steps (rollback, log tail) stay in
    # step with what the service activity would actually run.
    out = {program(spec) for spec in _configured_specs(svc)}
    for kind in CommandKind:
        try:
            out.add(program(resolve_command(name, svc, kind)))
        except Exception:  # noqa: BLE001, S112 -- CommandNotConfigured: nothing to allow
            continue
    return frozenset(out)


def _configured_specs(obj: object) -> list[CommandSpec]:
    """Every CommandSpec written anywhere in a service's inventory entry (its `commands`,
    and playbook sections such as SecurityIncident's `containment`): each is a command
    the inventory author wrote for that service, so its program is allowed."""
    if isinstance(obj, CommandSpec):
        return [obj]
    if isinstance(obj, BaseModel):
        return [s for name in type(obj).model_fields for s in _configured_specs(getattr(obj, name))]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _configured_specs(v)]
    if isinstance(obj, (list, tuple)):
        return [s for v in obj for s in _configured_specs(v)]
    return []


def check_service_command(inventory: Inventory, service: str, spec: CommandSpec) -> None:
    svc = inventory.service(service)
    allowed = allowed_programs(service, svc)
    if program(spec) not in allowed:
        raise app_error(
            "CommandNotAllowed",
            f"service {service!r}: program {program(spec)!r} is not in its allowed_commands "
            f"{sorted(allowed)}; nothing was sent",
        )


def check_host_command(inventory: Inventory, host: str, argv: list[str]) -> None:
    """ssh.run names a host, not a service: the argv must be allowed for some service
    running there. A host no service names runs nothing (fail closed)."""
    allowed: set[str] = set()
    for name, svc in inventory.services.items():
        if host in svc.hosts:
            allowed |= allowed_programs(name, svc)
    if argv[0] not in allowed:
        raise app_error(
            "CommandNotAllowed",
            f"host {host!r}: program {argv[0]!r} is not allowed for any service on it "
            f"(allowed: {sorted(allowed)}); nothing was sent",
        )
