"""`services:` -- one entry per service: its hosts, command slots, health URLs, rollback,
logs, SLIs, per-service overrides and playbook sections. The sections that workflows
also read (mitigations, testing, diagnostics, safety, agent_lab, data_integrity,
recurrence) are modelled in workflows/contracts/ and composed here.

`resolve_command` answers which argv a command slot runs: the inventory's own, or one
derived from the service's settings (rollback steps, log tail). The service activity
runs it and the allowlist (activities/ssh_policy.py) admits it, from this one answer.
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from activities.errors import app_error
from activities.inventory.allowlist import AllowedEntry, check_entries, refuse_program_names
from activities.inventory.commands import CommandSpec
from activities.inventory.crash import CrashDumpSpec
from activities.inventory.defaults import ThresholdOverrides, WaitOverrides
from activities.inventory.rollback import CiRollbackSpec, RollbackSpec
from activities.inventory.security import SecuritySpec
from activities.inventory.slis import SliSpec
from activities.scripts import RESTORE_CONFIG_SCRIPT
from workflows.contracts.approvers import Approvers
from workflows.contracts.base import Strict
from workflows.contracts.communication import (
    CommunicationPolicy,
    SlackChannels,
    StatusPage,
    check_issue_url,
)
from workflows.contracts.datafiles import DataIntegritySpec
from workflows.contracts.diagnostics import DiagnosticsPolicy
from workflows.contracts.mitigation import MitigationSpec
from workflows.contracts.paging import PagingPolicy
from workflows.contracts.policy import AgentLabSpec, RecurrencePolicy
from workflows.contracts.safety import SafetyOverrides
from workflows.contracts.service import CommandKind
from workflows.contracts.testsuite import TestingPolicy

LOG_TAIL_LINES = 100


class ServiceSpec(Strict):
    hosts: list[str] = Field(min_length=1)
    # Severity when neither an override nor the runbook gives one (Triage).
    severity: str = Field(default="P1", pattern="^P[0-4]$")
    # alertname -> P0..P4: this service's incidents of that alert, over the runbook's.
    severity_overrides: dict[str, Annotated[str, Field(pattern="^P[0-4]$")]] = Field(
        default_factory=dict
    )
    paging: PagingPolicy | None = None  # default: the top-level `defaults.paging`
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
    # Whole commands (argv lists, `{re}` words, `{shell}` strings) it may run over SSH;
    # default: exactly its own commands (activities/inventory/allowlist.py).
    allowed_commands: list[AllowedEntry] | None = None
    # SLI playbooks: named config changes, test-suite reading, diagnostics queries.
    mitigations: dict[str, MitigationSpec] = Field(default_factory=dict)
    testing: TestingPolicy = Field(default_factory=TestingPolicy)
    diagnostics: DiagnosticsPolicy = Field(default_factory=DiagnosticsPolicy)
    safety: SafetyOverrides = Field(default_factory=SafetyOverrides)
    # Per kind, over the inventory's top-level `approvers:` (names under `people:`).
    approvers: Approvers | None = None
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
    # GenesisServiceDown crash evidence: where crash_<stamp>/ dumps go, what they hold,
    # the crash-reason patterns (activities/inventory/crash.py, activities/crash.py).
    crash_dump: CrashDumpSpec | None = None
    # Where the incident's words go (workflows/contracts/communication.py): the
    # variables holding each Slack channel's webhook URL, the status page's, and the
    # issue tracker link template of the status update's Issue line.
    slack: SlackChannels | None = None
    status_page: StatusPage | None = None
    issue_url: str | None = None

    @field_validator("issue_url")
    @classmethod
    def _issue_url(cls, v: str | None) -> str | None:
        return check_issue_url(v)

    def communication(self) -> CommunicationPolicy:
        return CommunicationPolicy(
            slack=self.slack or SlackChannels(),
            status_page=self.status_page,
            issue_url=self.issue_url,
        )

    @field_validator("allowed_commands", mode="before")
    @classmethod
    def _no_program_names(cls, v: Any) -> Any:
        return refuse_program_names(v)

    @field_validator("allowed_commands")
    @classmethod
    def _no_open_patterns(cls, v: list[AllowedEntry] | None) -> list[AllowedEntry] | None:
        return check_entries(v)

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


# Agent Lab "Deployment Failure" import check when the inventory names none
# (activities/deploy.py), run in the test_suite command's cwd.
DEFAULT_IMPORT_CHECK = ["python", "-c", "import app; print('Import OK')"]
DATA_HEAD_LINES = 5


# The argvs Remedy builds from a service's settings for its read-only checks. One
# builder each, used by the activity that runs it and by the allowlist that admits it
# (activities/ssh_policy.py: `count` there is a digits-only pattern).
def recent_changes_argv(repo: str, count: str) -> list[str]:
    """`git log --oneline -N` in the service's checkout (diagnostics.recent_changes), each
    line with its committer time (`%ct`) after the hash: High Error Rate rolls back only
    after a recent deployment, and this is how recent."""
    return ["git", "-C", repo, "log", "--no-color", "--format=%h %ct %s", "-n", count]


def tail_argv(path: str, count: str) -> list[str]:
    """The last lines of a log (security.access_log)."""
    return ["tail", "-n", count, path]


def incident_log_argv(incident_log: str) -> list[str]:
    """`tee -a` the incident log, the line on stdin (activities/records.py)."""
    return ["tee", "-a", incident_log]


def data_dir_argv(data_dir: str) -> list[str]:
    return ["ls", "-la", "--", data_dir]


def data_file_head_argv(data_dir: str, name: str) -> list[str]:
    return ["head", "-n", str(DATA_HEAD_LINES), "--", posixpath.join(data_dir, name)]


def _join(base: str, path: str) -> str:
    return posixpath.join(base, path)  # an absolute `path` wins, as it should


def resolve_command(svc_name: str, svc: ServiceSpec, kind: CommandKind) -> CommandSpec:
    """The inventory argv for a slot, or one derived from the service's settings."""
    if kind in svc.commands:
        return svc.commands[kind]
    rb = svc.rollback
    if rb is not None:
        repo = rb.repo_path
        git = ["git", "-C", repo]
        derived = {
            CommandKind.ROLLBACK_FETCH: CommandSpec(argv=[*git, "fetch", rb.remote], timeout_s=120),
            CommandKind.ROLLBACK_RESET: CommandSpec(
                argv=[*git, "reset", "--hard", f"{rb.remote}/{rb.stable_ref}"]
            ),
            CommandKind.ROLLBACK_CLEAN: CommandSpec(argv=[*git, "clean", "-fd"]),
            # `cp backup/*.yaml config/` under the seed's `set -e`: no matching file is a
            # failure (the procedure stops, a human looks), not a silent no-op. The paths
            # and glob are positional parameters -- data, never script text.
            CommandKind.ROLLBACK_RESTORE_CONFIG: CommandSpec(
                argv=[
                    "sh",
                    "-c",
                    RESTORE_CONFIG_SCRIPT,
                    "remedy-restore-config",
                    _join(repo, rb.config_backup_dir),
                    _join(repo, rb.config_dir),
                    rb.config_glob,
                ]
            ),
        }
        if kind in derived:
            return derived[kind]
    if kind == CommandKind.SMOKE_TEST and svc.smoke_test is not None:
        return svc.smoke_test  # one smoke-test command per service, whichever runbook asks
    if kind == CommandKind.LOGS and svc.log_files:
        return CommandSpec(argv=["tail", "-n", str(LOG_TAIL_LINES), *svc.log_files])
    raise app_error("CommandNotConfigured", f"service {svc_name!r} has no {kind.value!r} command")
