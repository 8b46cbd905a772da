"""Fakes at the activity boundary for workflow tests (the real activities are tested
against real sshd / Prometheus / HTTP in tests/activities). Same activity names and
contracts as the real ones, so the playbooks under test are the production code.

Each call is logged with the *server's* clock (`activity.info()` scheduled time), which
on the time-skipping server is the skipped-ahead workflow time: that is how tests check
the runbook's real durations (30 s, 5 min, 10 min) without shrinking a constant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.records import incident_line
from tests.workflows import clock
from workflows.contracts.diagnostics import (
    CRASH_EVIDENCE,
    CrashEvidenceInput,
    CrashEvidenceResult,
    CrashSource,
)
from workflows.contracts.http import HTTP_PROBE, HttpProbeInput, HttpProbeResult
from workflows.contracts.notify import (
    PAGERDUTY_EVENT,
    SLACK_POST,
    USER_NOTICE,
    NotifyResult,
    PagerDutyInput,
    SlackMessageInput,
    UserNoticeInput,
)
from workflows.contracts.paging import PagingPolicy
from workflows.contracts.policy import SERVICE_POLICY, ServicePolicy, ServicePolicyInput
from workflows.contracts.prometheus import (
    PROMETHEUS_QUERY,
    PromQueryInput,
    PromQueryResult,
    PromSample,
)
from workflows.contracts.records import (
    EARLIER_INCIDENTS,
    INCIDENT_LOG,
    POSTMORTEM_WRITE,
    EarlierIncidentsInput,
    EarlierIncidentsResult,
    IncidentLogInput,
    IncidentLogResult,
    PostmortemInput,
    PostmortemResult,
)
from workflows.contracts.safety import GOVERNOR_PERMIT, PermitDecision, PermitRequest
from workflows.contracts.service import (
    SERVICE_RESTART,
    SERVICE_RUN,
    CommandKind,
    ServiceCommandInput,
    ServiceCommandResult,
)
from workflows.contracts.ssh import CommandResult


class Healthy:
    """A scripted Prometheus sample that holds the SLI it answers for (0 for an SLI that
    must stay below its bound, 1 for one that must stay above it). The worlds' default:
    a test that wants a breach, or no data, says so; no default breaks a window by
    itself."""

    def __repr__(self) -> str:
        return "HEALTHY"


HEALTHY = Healthy()
Sample = float | None | Healthy  # None: no data


def healthy_value(policy: ServicePolicy, query: str) -> float | None:
    """What HEALTHY means for `query`: a value that holds the service's SLI with that
    query (and so the runbook's SLO, which is stricter than no bound here); None (no
    data) for a query that is no SLI -- a diagnostic that does not know."""
    sli = next((s for s in policy.slis.values() if s.query == query), None)
    if sli is None:
        return None
    value = 0.0 if sli.comparison in ("lt", "le") else max(1.0, 2 * sli.threshold)
    assert sli.holds(value), (sli, value)
    return value


def sample(policy: ServicePolicy, query: str, value: Sample) -> PromQueryResult:
    v = healthy_value(policy, query) if isinstance(value, Healthy) else value
    if v is None:
        return PromQueryResult(status="no_data")
    return PromQueryResult(status="ok", samples=[PromSample(labels={}, value=v)])


@dataclass
class Call:
    at: datetime
    name: str
    detail: str = ""


QUIET_PAGING = PagingPolicy(at_detection={})


@dataclass
class World:
    """A scripted service. `active` says whether the status command succeeds, given
    how many restarts / rollbacks have run."""

    policy: ServicePolicy
    restart_exit: int = 0
    active_from_start: bool = False  # the status command says active before any restart
    active_after_restart: bool = True
    active_after_rollback: bool = True
    healthy_after_calls: int = 0  # health endpoint fails this many times first
    rollback_fail_step: CommandKind | None = None
    prom_values: list[Sample] = field(default_factory=lambda: [HEALTHY])  # None = no data
    calls: list[Call] = field(default_factory=list)
    restarts: int = 0
    started_after_rollback: bool = False
    health_calls: int = 0
    known_service: bool = True
    permits: list[PermitRequest] = field(default_factory=list)  # always granted here
    # What Temporal visibility answers about earlier runs of the incident id, given the
    # server's "now" (skipped-ahead time); the default is a server that cannot list (as
    # the time-skipping server).
    earlier: Callable[[datetime], EarlierIncidentsResult] = lambda now: EarlierIncidentsResult(
        available=False, detail="fake: no list"
    )
    earlier_asked: list[EarlierIncidentsInput] = field(default_factory=list)
    slack_messages: list[SlackMessageInput] = field(default_factory=list)
    pd_events: list[PagerDutyInput] = field(default_factory=list)
    # User-facing notices to the status page (only a policy with `status_page` sends any).
    notices: list[UserNoticeInput] = field(default_factory=list)
    # What the crash evidence shows (activities/crash.py classifies; here it is given).
    crash_reason: str = "segmentation_fault"
    smoke_test_exit: int = 0  # CommandKind.SMOKE_TEST (GenesisServiceDown step 3)

    def log(self, name: str, detail: str = "", ago_s: float = 0.0) -> None:
        """A call, at the workflow time it was made (less `ago_s`: a query about the
        past is logged at the time it asked about)."""
        self.calls.append(Call(clock.now() - timedelta(seconds=ago_s), name, detail))

    def command_hook(self, inp: ServiceCommandInput) -> tuple[int, str] | None:
        """A World for one playbook answers its own service commands here: (exit, stdout)."""
        return None

    def times(self, name: str) -> list[datetime]:
        return [c.at for c in self.calls if c.name == name]

    def names(self) -> list[str]:
        return [c.name for c in self.calls]

    # -------------------------------------------------------------- activities
    def activities(self) -> list[Callable[..., object]]:
        world = self

        @activity.defn(name=SERVICE_POLICY.name)
        async def policy(inp: ServicePolicyInput) -> ServicePolicy:
            if not world.known_service:
                raise ApplicationError(
                    f"service {inp.service!r} is not in the inventory",
                    type="UnknownService",
                    non_retryable=True,
                )
            if "paging" not in world.policy.model_fields_set:
                # A world that says nothing of paging pages nobody at detection, so the
                # playbooks' own call sequences stay what their tests assert; the paging
                # tests (tests/workflows/test_paging.py) set `paging` and see the runbook's.
                return world.policy.model_copy(update={"paging": QUIET_PAGING})
            return world.policy

        def result(inp: ServiceCommandInput, code: int, out: str = "") -> ServiceCommandResult:
            return ServiceCommandResult(
                service=inp.service,
                command=inp.command,
                result=CommandResult(
                    host="h", argv=[inp.command.value], exit_status=code, stdout=out
                ),
            )

        def dry(inp: ServiceCommandInput) -> ServiceCommandResult | None:
            # As activities/service.py: in dry-run a keyed (side-effect) command does nothing.
            if not (inp.idempotency_key and world.policy.safety.dry_run):
                return None
            world.log(f"dry-run:{inp.command.value}", inp.idempotency_key)
            res = result(inp, 0, f"DRY RUN: would run `{inp.command.value}` on h")
            return res.model_copy(update={"dry_run": True})

        @activity.defn(name=SERVICE_RESTART.name)
        async def restart(inp: ServiceCommandInput) -> ServiceCommandResult:
            if (d := dry(inp)) is not None:
                return d
            world.log("restart", inp.idempotency_key or "")
            world.restarts += 1
            return result(inp, world.restart_exit)

        @activity.defn(name=SERVICE_RUN.name)
        async def run(inp: ServiceCommandInput) -> ServiceCommandResult:
            if (d := dry(inp)) is not None:
                return d
            world.log(inp.command.value, inp.idempotency_key or "")
            if (answer := world.command_hook(inp)) is not None:
                return result(inp, *answer)
            if inp.command == CommandKind.STATUS:
                if world.started_after_rollback:
                    up = world.active_after_rollback
                else:
                    up = world.active_from_start or (
                        world.restarts > 0
                        and world.restart_exit == 0
                        and world.active_after_restart
                    )
                return result(inp, 0 if up else 3, "active" if up else "inactive")
            if inp.command == world.rollback_fail_step:
                return result(inp, 1)
            if inp.command == CommandKind.START:
                world.started_after_rollback = True
            if inp.command == CommandKind.LOGS:
                return result(inp, 0, "line1\nSegmentation fault\n")
            if inp.command == CommandKind.SMOKE_TEST:
                return result(
                    inp,
                    world.smoke_test_exit,
                    "1 passed" if not world.smoke_test_exit else "1 failed",
                )
            return result(inp, 0)

        @activity.defn(name=HTTP_PROBE.name)
        async def probe(inp: HttpProbeInput) -> HttpProbeResult:
            world.health_calls += 1
            ok = world.health_calls > world.healthy_after_calls
            world.log("health", "ok" if ok else "fail")
            return HttpProbeResult(url="http://svc/health", ok=ok, status_code=200 if ok else 503)

        @activity.defn(name=PROMETHEUS_QUERY.name)
        async def prom(inp: PromQueryInput) -> PromQueryResult:
            n = len(world.times("prometheus"))
            world.log("prometheus", inp.query, ago_s=inp.ago_s)
            value = world.prom_values[n] if n < len(world.prom_values) else world.prom_values[-1]
            return sample(world.policy, inp.query, value)

        @activity.defn(name=SLACK_POST.name)
        async def slack(inp: SlackMessageInput) -> NotifyResult:
            world.log("slack", inp.status)
            world.slack_messages.append(inp)
            return NotifyResult(channel="slack", delivered=True)

        @activity.defn(name=PAGERDUTY_EVENT.name)
        async def pagerduty(inp: PagerDutyInput) -> NotifyResult:
            world.log(f"pagerduty:{inp.action}", inp.dedup_key)
            world.pd_events.append(inp)
            return NotifyResult(channel="pagerduty", delivered=True)

        @activity.defn(name=INCIDENT_LOG.name)
        async def incident_log(inp: IncidentLogInput) -> IncidentLogResult:
            # The real activity's wording (activities/records.py), resolved or escalated.
            line = incident_line(inp.alertname, inp.action, escalated=inp.escalated)
            if world.policy.safety.dry_run:  # as activities/records.py: nothing appended
                world.log("dry-run:incident_log", line)
                return IncidentLogResult(written=False, dry_run=True, where="memory", line=line)
            world.log("incident_log", line)
            return IncidentLogResult(written=True, where="memory", line=line)

        @activity.defn(name=POSTMORTEM_WRITE.name)
        async def postmortem(inp: PostmortemInput) -> PostmortemResult:
            world.log("postmortem", inp.markdown)
            return PostmortemResult(where=f"memory:{inp.incident_id}.md")

        @activity.defn(name=GOVERNOR_PERMIT.name)
        async def permit(inp: PermitRequest) -> PermitDecision:
            # The real governor is a workflow (tests/workflows/test_safety.py); here every
            # request is granted, unlogged, so call sequences stay the runbook's.
            world.permits.append(inp)
            return PermitDecision(granted=True, used=1, limit=inp.max_per_hour, detail="fake")

        @activity.defn(name=CRASH_EVIDENCE.name)
        async def crash(inp: CrashEvidenceInput) -> CrashEvidenceResult:
            world.log("crash_evidence", inp.stamp)
            dry = world.policy.safety.dry_run  # as activities/crash.py: nothing written
            where = f"h:/logs/crash_{inp.stamp}"
            return CrashEvidenceResult(
                reason=world.crash_reason,  # type: ignore[arg-type]
                evidence="" if world.crash_reason == "unknown" else "kernel: app[42]: segfault",
                dump_dir=None if dry else where,
                dry_run=dry,
                sources=[CrashSource(name="service.log", ok=True, lines=100)],
                detail=f"DRY RUN: would keep the crash dump in {where}"
                if dry
                else f"crash dump kept in {where}",
            )

        @activity.defn(name=USER_NOTICE.name)
        async def user_notice(inp: UserNoticeInput) -> NotifyResult:
            world.log("user_notice", inp.state)
            world.notices.append(inp)
            return NotifyResult(channel="status_page", delivered=True)

        @activity.defn(name=EARLIER_INCIDENTS.name)
        async def earlier(inp: EarlierIncidentsInput) -> EarlierIncidentsResult:
            world.earlier_asked.append(inp)  # unlogged: call sequences stay the runbook's
            return world.earlier(clock.now())

        return [
            *(policy, restart, run, probe, prom, slack, pagerduty, incident_log, postmortem),
            permit,
            earlier,
            crash,
            user_notice,
        ]
