"""The whole inventory file: `defaults`, `hosts`, `services`, `routes`, `redact` and
`safety`, checked across sections (jump hosts, service hosts, route targets), and what
activities ask of it.

Workflows never see this object: they get a `ServicePolicy` (names and numbers only)
from the `inventory.service_policy` activity, and every other activity resolves
addresses, keys and argv here, worker side.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field, model_validator
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.inventory.defaults import Defaults
from activities.inventory.hosts import HostSpec
from activities.inventory.people import PERSON_NAME, PersonSpec, check_people
from activities.inventory.redact import compile_patterns
from activities.inventory.services import ServiceSpec
from workflows.contracts.approvers import Approvers, merge
from workflows.contracts.base import Strict
from workflows.contracts.datafiles import DataIntegrityPolicy
from workflows.contracts.policy import (
    SERVICE_POLICY,
    AgentLabPolicy,
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
from workflows.registry import ROUTABLE


class Inventory(Strict):
    defaults: Defaults = Field(default_factory=Defaults)
    hosts: dict[str, HostSpec] = Field(default_factory=dict)
    services: dict[str, ServiceSpec] = Field(default_factory=dict)
    # alertname -> playbook name; adds to / overrides workflows.registry.ROUTES.
    routes: dict[str, str] = Field(default_factory=dict)
    # Regexes scrubbed from captured command output, added to redact.DEFAULT_REDACT.
    redact: list[str] = Field(default_factory=list)
    # Dry-run, approvals, hourly action limit: defaults here, overridden per service.
    safety: SafetyOverrides = Field(default_factory=SafetyOverrides)
    # Who answers incidents (activities/inventory/people.py) and who may answer which
    # kind of step: top level here, overridden per kind by a service's `approvers:`.
    people: dict[str, PersonSpec] = Field(default_factory=dict)
    approvers: Approvers = Field(default_factory=dict)
    source: str = Field(default="<memory>", exclude=True)

    @model_validator(mode="after")
    def _approvers_are_people(self) -> Inventory:
        # A typo in a name would refuse the right person at 3 a.m.: say so at load.
        for name in self.people:
            if not re.match(PERSON_NAME, name):
                raise ValueError(f"people.{name}: a name is lower case letters, digits, . _ -")
        check_people(self.people)
        tables = [("approvers", self.approvers)] + [
            (f"services.{n}.approvers", s.approvers or {}) for n, s in self.services.items()
        ]
        for where, table in tables:
            for kind, names in table.items():
                for i, name in enumerate(names):
                    if name not in self.people:
                        raise ValueError(
                            f"{where}.{kind}[{i}]: {name!r} is not under people "
                            f"(listed: {', '.join(sorted(self.people)) or 'nobody'})"
                        )
        return self

    def person_by(self, system: str, user_id: str) -> str | None:
        """The person a Slack or PagerDuty user id belongs to (None: nobody listed)."""
        for name, p in self.people.items():
            if getattr(p, system) == user_id:
                return name
        return None

    @model_validator(mode="after")
    def _bind_ssh_policy(self) -> Inventory:
        patterns = compile_patterns(self.redact)
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
        known = set(ROUTABLE) | {"Triage"}
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
        svc = self.service(name)
        return merge_safety(self.safety, svc.safety).model_copy(
            update={"approvers": merge(self.approvers, svc.approvers)}
        )

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
            severity_overrides=dict(svc.severity_overrides),
            paging=svc.paging or self.defaults.paging,
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
                has_smoke_test=svc.smoke_test is not None or CommandKind.SMOKE_TEST in svc.commands,
                has_ci_deploy_workflow=bool(svc.ci_rollback and svc.ci_rollback.deploy_workflow),
                ci_poll_interval=timedelta(
                    seconds=svc.ci_rollback.poll_interval_s if svc.ci_rollback else 30.0
                ),
            ),
            recurrence=svc.recurrence or self.defaults.recurrence,
            communication=svc.communication(),
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


class InventoryActivities:
    """Answers the one question workflows may ask of the inventory."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @activity.defn(name=SERVICE_POLICY.name)
    async def service_policy(self, inp: ServicePolicyInput) -> ServicePolicy:
        return self.inventory.policy(inp.service)
