"""The typed inventory: hosts, services, SLIs, commands, thresholds and waits.

Loaded once by the worker from YAML and validated strictly (unknown keys are errors, so
a typo never silently falls back to a default). Errors name the file, the YAML path and
the problem. Workflows never see this object: they get a `ServicePolicy` (names and
numbers only) from the `inventory.service_policy` activity, and every other activity
resolves addresses, keys and argv here, worker side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    model_validator,
)
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import ssh_policy
from activities.inventory_specs import (
    CiRollbackSpec,
    CommandSpec,
    ContainmentStep,
    Defaults,
    HostSpec,
    RollbackSpec,
    Seconds,
    SecuritySpec,
    SliSpec,
    ThresholdOverrides,
    WaitOverrides,
    _Strict,
)
from workflows.contracts.datafiles import DataIntegrityPolicy, DataIntegritySpec
from workflows.contracts.diagnostics import DiagnosticsPolicy
from workflows.contracts.mitigation import MitigationSpec
from workflows.contracts.policy import (
    SERVICE_POLICY,
    AgentLabPolicy,
    AgentLabSpec,
    RecurrencePolicy,
    ReleasePolicy,
    ServicePolicy,
    ServicePolicyInput,
    Sli,
    Thresholds,
    Waits,
)
from workflows.contracts.safety import SafetyOverrides, SafetyPolicy, merge_safety
from workflows.contracts.security import SecurityPolicy
from workflows.contracts.service import CommandKind
from workflows.contracts.testsuite import TestingPolicy
from workflows.registry import PLAYBOOKS

# Re-exported: the rest of the code imports every inventory model from here.
__all__ = [
    "CiRollbackSpec",
    "CommandSpec",
    "ContainmentStep",
    "Defaults",
    "HostSpec",
    "Inventory",
    "InventoryActivities",
    "InventoryError",
    "RollbackSpec",
    "SecuritySpec",
    "Seconds",
    "ServiceSpec",
    "SliSpec",
    "ThresholdOverrides",
    "WaitOverrides",
    "load_inventory",
]


class ServiceSpec(_Strict):
    hosts: list[str] = Field(min_length=1)
    severity: str = Field(default="P1", pattern="^P[0-4]$")
    commands: dict[CommandKind, CommandSpec] = Field(default_factory=dict)
    health_url: str | None = None
    health_detailed_url: str | None = None
    rollback: RollbackSpec | None = None
    log_files: list[str] = Field(default_factory=list)
    data_dir: str | None = None
    incident_log: str | None = Field(default=None, description="file on the first host")
    slis: dict[str, SliSpec] = Field(default_factory=dict)
    thresholds: ThresholdOverrides = Field(default_factory=ThresholdOverrides)
    waits: WaitOverrides = Field(default_factory=WaitOverrides)
    # Programs (argv[0]) its commands may run; default: those of its own commands.
    allowed_commands: list[str] | None = None
    # SLI playbooks: named config changes, test-suite reading, diagnostics queries.
    mitigations: dict[str, MitigationSpec] = Field(default_factory=dict)
    testing: TestingPolicy = Field(default_factory=TestingPolicy)
    diagnostics: DiagnosticsPolicy = Field(default_factory=DiagnosticsPolicy)
    safety: SafetyOverrides = Field(default_factory=SafetyOverrides)
    security: SecuritySpec | None = None
    # Agent Lab playbooks (ApplicationDown, StreamingFailure, PerformanceDegradation):
    # diagnostics, maintenance mode, smoke/streaming/load probes.
    agent_lab: AgentLabSpec | None = None
    # Agent Lab HighErrorRate / DeploymentFailure (workflows/agentlab_errors_contracts.py):
    # rollback by CI dispatch (preferred over `rollback` when set), the upstream API the
    # latency probes time, the checkout `git log` reads (default: rollback.repo_path),
    # startup logs (default: the `logs` command), the import check (default
    # `python -c 'import app'` in the test_suite cwd) and the smoke tests.
    ci_rollback: CiRollbackSpec | None = None
    upstream_probe_url: str | None = Field(default=None, pattern=r"^https?://")
    source_repo: str | None = None
    startup_logs: CommandSpec | None = None
    import_check: CommandSpec | None = None
    smoke_test: CommandSpec | None = None
    # alertname -> playbook for this service only (over the top-level `routes`): one
    # alertname, e.g. HighErrorRate, runs each system's own runbook.
    routes: dict[str, str] = Field(default_factory=dict)
    # DataCorruption (workflows/datafile_contracts.py): sessions, CSV, backup, quarantine,
    # evidence and read-only flag paths; defaults derived from data_dir.
    data_integrity: DataIntegritySpec | None = None
    # Recurrence look-back and chronic paging (workflows/steps/recurrence.py); default:
    # the inventory's `defaults.recurrence`.
    recurrence: RecurrencePolicy | None = None

    @model_validator(mode="after")
    def _data_integrity_paths(self) -> ServiceSpec:
        if self.data_integrity is not None:
            if self.data_dir is None:
                raise ValueError("data_integrity needs the service's data_dir")
            self.data_integrity.paths(self.data_dir)  # ValueError names the problem
        # The off-host copies only mean something to DataCorruption, and a sync needs the
        # directory it fills: refuse a command that would silently never run.
        di = self.data_integrity
        if CommandKind.BACKUP_SYNC in self.commands and (di is None or di.backup_dir is None):
            raise ValueError("commands.backup_sync fills data_integrity.backup_dir: set it")
        if CommandKind.EVIDENCE_UPLOAD in self.commands and di is None:
            raise ValueError("commands.evidence_upload needs a data_integrity section")
        return self


class Inventory(_Strict):
    defaults: Defaults = Field(default_factory=Defaults)
    hosts: dict[str, HostSpec] = Field(default_factory=dict)
    services: dict[str, ServiceSpec] = Field(default_factory=dict)
    # alertname -> playbook name; adds to / overrides workflows.registry.ROUTES.
    routes: dict[str, str] = Field(default_factory=dict)
    # Regexes scrubbed from captured command output, added to ssh_policy.DEFAULT_REDACT.
    redact: list[str] = Field(default_factory=list)
    # Dry-run, approvals, hourly action limit: defaults here, overridden per service.
    safety: SafetyOverrides = Field(default_factory=SafetyOverrides)
    source: str = Field(default="<memory>", exclude=True)

    @model_validator(mode="after")
    def _bind_ssh_policy(self) -> Inventory:
        patterns = ssh_policy.compile_patterns(self.redact)
        # Copies: a HostSpec object handed to two inventories must not share bindings.
        self.hosts = {n: h.model_copy() for n, h in self.hosts.items()}
        for name, h in self.hosts.items():
            seen = [name]
            while (jump := self.hosts[seen[-1]].jump_host) is not None:
                if jump not in self.hosts:
                    raise ValueError(f"hosts.{seen[-1]}.jump_host: host {jump!r} is not defined")
                if jump in seen:
                    raise ValueError(f"hosts.{name}.jump_host: cycle {' -> '.join(seen)}")
                seen.append(jump)
            h._jump = self.hosts[h.jump_host] if h.jump_host else None
            h._redact = patterns
        return self

    @model_validator(mode="after")
    def _routes_name_playbooks(self) -> Inventory:
        # A typo here would send every such alert to Triage at 3 a.m.: say so at load.
        known = set(PLAYBOOKS) | {"Triage"}
        tables = [("routes", self.routes)] + [
            (f"services.{n}.routes", s.routes) for n, s in self.services.items()
        ]
        for where, table in tables:
            for alertname, playbook in table.items():
                if playbook not in known:
                    raise ValueError(
                        f"{where}.{alertname}: no playbook {playbook!r} "
                        f"(registered: {', '.join(sorted(known))})"
                    )
        return self

    def warnings(self) -> list[str]:
        """What is valid but will not work from *this* machine: key and known_hosts
        files that are not here (fine if the worker runs elsewhere, fatal if it runs here)."""
        out = []
        for name, h in self.hosts.items():
            for what, path in (
                ("private_key_file", h.private_key_file),
                ("known_hosts_file", h.known_hosts_file),
            ):
                if not path.exists():
                    out.append(f"hosts.{name}.{what}: {path} does not exist on this machine")
        return out

    @model_validator(mode="after")
    def _hosts_exist(self) -> Inventory:
        for name, svc in self.services.items():
            for i, h in enumerate(svc.hosts):
                if h not in self.hosts:
                    raise ValueError(
                        f"services.{name}.hosts[{i}]: host {h!r} is not defined under hosts"
                    )
        return self

    # -- lookups used by activities ------------------------------------------------
    def service(self, name: str) -> ServiceSpec:
        try:
            return self.services[name]
        except KeyError:
            raise ApplicationError(
                f"service {name!r} is not in the inventory ({self.source})",
                type="UnknownService",
                non_retryable=True,
            ) from None

    def host(self, name: str) -> HostSpec:
        try:
            return self.hosts[name]
        except KeyError:
            raise ApplicationError(
                f"host {name!r} is not in the inventory ({self.source})",
                type="UnknownHost",
                non_retryable=True,
            ) from None

    def safety_for(self, name: str) -> SafetyPolicy:
        return merge_safety(self.safety, self.service(name).safety)

    def policy(self, name: str) -> ServicePolicy:
        svc = self.service(name)
        thresholds = Thresholds().model_copy(
            update=_set(self.defaults.thresholds) | _set(svc.thresholds)
        )
        waits = Waits.model_validate(
            Waits().model_dump() | _set(self.defaults.waits) | _set(svc.waits)
        )
        return ServicePolicy(
            service=name,
            hosts=svc.hosts,
            severity_default=svc.severity,
            has_rollback=svc.rollback is not None,
            has_health_url=svc.health_url is not None,
            has_health_check=CommandKind.HEALTH_CHECK in svc.commands,
            slis={
                k: Sli(name=k, query=s.query, comparison=s.comparison, threshold=s.threshold)  # type: ignore[arg-type]
                for k, s in svc.slis.items()
            },
            thresholds=thresholds,
            waits=waits,
            mitigations=sorted(svc.mitigations),
            testing=svc.testing,
            diagnostics=svc.diagnostics,
            safety=self.safety_for(name),
            agent_lab=svc.agent_lab.policy(
                has_logs=bool(svc.log_files),
                has_data_dir=svc.data_dir is not None,
                has_health_url=svc.health_url is not None,
                has_detailed=svc.health_detailed_url is not None,
            )
            if svc.agent_lab
            else AgentLabPolicy(),
            release=ReleasePolicy(
                has_ci_rollback=svc.ci_rollback is not None,
                has_upstream_probe=svc.upstream_probe_url is not None
                or bool(svc.agent_lab and svc.agent_lab.upstream_url),
                has_source_repo=svc.source_repo is not None or svc.rollback is not None,
                has_smoke_test=svc.smoke_test is not None,
            ),
            recurrence=svc.recurrence or self.defaults.recurrence,
            data_integrity=svc.data_integrity.policy(
                has_logs=bool(svc.log_files),
                has_backup_sync=CommandKind.BACKUP_SYNC in svc.commands,
                has_evidence_upload=CommandKind.EVIDENCE_UPLOAD in svc.commands,
            )
            if svc.data_integrity
            else DataIntegrityPolicy(),
            security=SecurityPolicy(
                configured=True,
                containment={k: c.description for k, c in svc.security.containment.items()},
                human_steps=svc.security.human_steps,
            )
            if svc.security
            else SecurityPolicy(),
        )


def _set(model: BaseModel) -> dict[str, Any]:
    return {k: v for k, v in model.model_dump().items() if v is not None}


class InventoryError(ValueError):
    """The inventory file is unreadable or invalid. The message lists every problem as
    `file: yaml.path: problem`."""


def _yaml_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<top level>"


def _problem(path: Path, loc: tuple[int | str, ...], msg: str) -> str:
    # Our own validators raise ValueError with the YAML path in the text; pydantic wraps
    # them as "Value error, ...", which only gets in the way of the reader.
    msg = msg.removeprefix("Value error, ")
    if not loc:
        return f"{path}: {msg}"
    return f"{path}: {_yaml_path(loc)}: {msg}"


def load_inventory(path: str | Path) -> Inventory:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise InventoryError(f"{path}: cannot read inventory: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InventoryError(f"{path}: {where}invalid YAML: {getattr(e, 'problem', e)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: <top level>: expected a mapping, got {type(data).__name__}")
    try:
        inv = Inventory.model_validate(data)
    except ValidationError as e:
        problems = [_problem(path, err["loc"], err["msg"]) for err in e.errors()]
        raise InventoryError("invalid inventory:\n  " + "\n  ".join(problems)) from None
    inv.source = str(path)
    return inv


class InventoryActivities:
    """Answers the one question workflows may ask of the inventory."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @activity.defn(name=SERVICE_POLICY.name)
    async def service_policy(self, inp: ServicePolicyInput) -> ServicePolicy:
        return self.inventory.policy(inp.service)
