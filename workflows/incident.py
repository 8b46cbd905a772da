"""What every incident shares: phases, timeline, signals, query, update, search
attributes, activity calls that land in the timeline, and escalation deadlines.

Playbooks subclass `Incident` and keep only their runbook's decisions. Everything here
is deterministic workflow code: time comes from `workflow.now()`, waits from
`workflow.sleep` / `workflow.wait_condition`, side effects go through activities
called by name (see workflows/contracts.py for why by name).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import Priority, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
)
from temporalio.exceptions import TimeoutError as TemporalTimeout

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from workflows import errors, severity, text
    from workflows.contracts.approvers import ACKNOWLEDGE, kind_of, who_may
    from workflows.contracts.base import Activity
    from workflows.contracts.policy import SERVICE_POLICY, ServicePolicy, ServicePolicyInput
    from workflows.contracts.safety import ApproveRequest, Decision, RejectRequest
    from workflows.models import (
        AckRequest,
        Alert,
        IncidentInput,
        IncidentStatus,
        Outcome,
        Phase,
        Resolution,
        Severity,
        TimelineEntry,
    )
    from workflows.policies import ActivityPolicy

# Custom search attributes: registered on the server before any workflow upserts them
# (an unknown attribute makes the workflow task fail forever -- see remedy/temporal.py).
SA_SERVICE = SearchAttributeKey.for_keyword("RemedyService")
SA_ALERTNAME = SearchAttributeKey.for_keyword("RemedyAlertName")
SA_SEVERITY = SearchAttributeKey.for_keyword("RemedySeverity")
SA_PHASE = SearchAttributeKey.for_keyword("RemedyPhase")
SEARCH_ATTRIBUTES = (SA_SERVICE, SA_ALERTNAME, SA_SEVERITY, SA_PHASE)

I = TypeVar("I", bound=BaseModel)  # noqa: E741
R = TypeVar("R", bound=BaseModel)
T = TypeVar("T")

# workflow.patched id: side-effect keys, backups, records and pages are scoped to one
# incident *run* (see Steps.run_key). Runs started before it keep keying on the workflow
# id alone, so their histories replay and their on-host markers still answer them.
INCIDENT_RUNS = "incident-run-keys"
# Severity from the runbook and paging by severity (workflows/severity.py,
# steps/paging.py). Runs started before it keep the label/default severity and page
# only on escalation. Once none remain, deprecate_patch, then remove.
PEOPLE_IN_THE_LOOP = "people-in-the-loop"
# Issue 19, less server work per incident: activities declared `local` run as local
# activities (one marker, no task-queue round trip), the verification sampler wakes
# once per two samples (steps/verify.py), detection tags the workflow in one upsert,
# and every patch id from before this one is taken without a marker of its own
# (`patched` below): each marker costs two events (the marker and the
# TemporalChangeVersion upsert). Runs started before it replay as they were recorded.
LEAN_HISTORY = "lean-history"
# Issue 19, second round (runs started under it record this marker instead and take
# everything LEAN_HISTORY does, see lean()): the search attributes a run sets are written
# when it next waits -- schedules an activity, sleeps, ends -- so phases passed through
# in one workflow task cost one upsert (Steps.save_tags); ServiceDown's crash reason
# rides the next status update instead of a Slack post of its own
# (steps/recovery.identify_crash_reason).
LEAN_HISTORY_2 = "lean-history-2"


def patched(patch_id: str) -> bool:
    """`workflow.patched(patch_id)` for every patch id older than LEAN_HISTORY: a run
    started under LEAN_HISTORY takes them all, without a marker each; a run from before
    it answers from its own markers, as it always did. The first call in a run is what
    records LEAN_HISTORY (Steps.run_key, at the start of every workflow). To retire an
    old id once no run from before it remains: drop its branch, as with
    workflow.deprecate_patch. A patch newer than LEAN_HISTORY calls workflow.patched
    itself."""
    return lean() or workflow.patched(patch_id)


def lean() -> bool:
    """LEAN_HISTORY taken by this run (memoized by the SDK: one marker per run). A run
    under LEAN_HISTORY_2 takes it too, without recording it (the `or` never asks)."""
    return leaner() or workflow.patched(LEAN_HISTORY)


def leaner() -> bool:
    """LEAN_HISTORY_2 taken by this run. Asked before LEAN_HISTORY, so a run recorded
    under LEAN_HISTORY replays with False here (no marker) and True from lean()."""
    return workflow.patched(LEAN_HISTORY_2)


class StepFailed(Exception):
    """An activity failed for good (its retries are spent or it was non-retryable).
    Carries the ApplicationError type, and its class in the error tree
    (workflows/errors.py), so a playbook branches on a class:
    `issubclass(err.error, errors.UnknownService)`, `issubclass(err.error, errors.Refused)`."""

    def __init__(self, step: str, error_type: str | None, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.error_type = error_type
        self.message = message

    @property
    def error(self) -> type[errors.RemedyError]:
        """The failure's class in the error tree; UnknownError for a type Remedy does
        not raise (a timeout, a cancelled activity)."""
        return errors.by_type(self.error_type)


def _failure_detail(err: BaseException) -> tuple[str | None, str]:
    cause = err.__cause__ if isinstance(err, ActivityError | ChildWorkflowError) else err
    if isinstance(cause, ApplicationError):
        return cause.type, cause.message
    return type(cause).__name__ if cause else None, str(cause or err)


# Issue 19, first response first (README "First response first"): an activity a run
# schedules in its first minute while in Detection, Assessment or Response (its policy,
# status check, restart, first page) is dispatched with priority_key 1, ahead of older
# incidents' work at the default 3 whenever the activity task queue backs up. Order of
# dispatch only: the same activity with the same input, and replay does not compare it.
FIRST_RESPONSE = Priority(priority_key=1)
FIRST_RESPONSE_WINDOW = timedelta(seconds=60)
FIRST_RESPONSE_PHASES = (Phase.DETECTION, Phase.ASSESSMENT, Phase.RESPONSE)


class Steps:
    """A timeline and named activity steps: shared by incidents and the Rollback child."""

    def __init__(self) -> None:
        self.phase = Phase.DETECTION
        self.timeline: list[TimelineEntry] = []
        self._run_key: str | None = None
        # Search attributes set but not yet written (LEAN_HISTORY_2, see save_tags).
        self._unsaved: dict[str, SearchAttributeUpdate] = {}

    def tag(self, *updates: SearchAttributeUpdate) -> None:
        """Set search attributes: at once in older runs; under LEAN_HISTORY_2 when the
        run next waits (save_tags), the latest value of each, in one upsert."""
        if not leaner():
            workflow.upsert_search_attributes(list(updates))
            return
        for u in updates:
            self._unsaved[u.key.name] = u

    def save_tags(self) -> None:
        """Write what tag() holds. Called before the run waits: a scheduled activity
        (act), a timer (sleep), the end (steps/resolution). The UI's list is at most
        one workflow task behind the timeline, never a wait behind."""
        if self._unsaved:
            updates, self._unsaved = list(self._unsaved.values()), {}
            workflow.upsert_search_attributes(updates)

    async def sleep(self, duration: timedelta) -> None:
        """workflow.sleep, with the search attributes written first."""
        self.save_tags()
        await workflow.sleep(duration)

    @property
    def run_key(self) -> str:
        """The identity of this incident *run* (one firing episode): the base of every
        idempotency key, backup directory, evidence name, CI run name, governor grant,
        PagerDuty dedup key and report file.

        Why not the workflow id: `incident:<alertname>:<service>` is the dedup key, and
        the next incident of the same alert on the same service reuses it once this one
        closed. Keyed on it, that incident's restart found this one's marker on the host
        and was "already done, not repeated" -- the service stayed down.

        Why the *first execution* run id: Temporal keeps it across everything that must
        not repeat a side effect -- activity retries, worker crashes, server restarts,
        continue-as-new and a reset (a reset re-runs decisions; what the host already did
        is answered from its markers) -- and a new start of the same workflow id, i.e.
        the next incident, gets a new one. An episode counter would need a lookup that can
        fail; the run id is in the workflow's own start event.

        Pinned on first use (the start of `detect()` / `Rollback.run`) behind
        INCIDENT_RUNS: runs from before the change keep the workflow id."""
        if self._run_key is None:
            info = workflow.info()
            if patched(INCIDENT_RUNS):
                self._run_key = f"{info.workflow_id}@{info.first_execution_run_id or info.run_id}"
            else:
                self._run_key = info.workflow_id
        return self._run_key

    @property
    def per_run(self) -> bool:
        """True for runs keyed per run (see run_key); False for runs started before."""
        return self.run_key != workflow.info().workflow_id

    def record(self, step: str, outcome: Outcome, detail: str = "") -> None:
        self.timeline.append(
            TimelineEntry(
                at=workflow.now(), phase=self.phase, step=step, outcome=outcome, detail=detail
            )
        )

    def _show(self) -> None:
        """Hook: refresh what the Temporal UI shows (see Incident)."""

    async def act(
        self,
        step: str,
        activity: Activity[I, R],
        arg: I,
        *,
        policy: ActivityPolicy | None = None,
    ) -> R:
        """Run one declared activity as a named step (its summary in the Temporal UI);
        `policy` overrides the declared retry policy where a step needs another (a
        keyed rollback command is a side effect, an unkeyed one a diagnostic). A final
        failure is recorded and raised as StepFailed (playbooks decide what it means)."""
        policy = policy or activity.policy
        try:
            result: R
            if policy.local and lean():
                # Worker-side, short, read-only or idempotent (contracts say which): run
                # in this workflow task, recorded as one marker (LEAN_HISTORY).
                result = await workflow.execute_local_activity(
                    activity.name,
                    arg,
                    result_type=activity.result,
                    start_to_close_timeout=policy.start_to_close,
                    schedule_to_close_timeout=policy.schedule_to_close,
                    retry_policy=policy.retry,
                    summary=step,
                )
            else:
                self.save_tags()
                result = await workflow.execute_activity(
                    activity.name,
                    arg,
                    result_type=activity.result,
                    start_to_close_timeout=policy.start_to_close,
                    schedule_to_close_timeout=policy.schedule_to_close,
                    heartbeat_timeout=policy.heartbeat,
                    retry_policy=policy.retry,
                    summary=step,
                    priority=self.task_priority(),
                )
        except (ActivityError, ApplicationError, TemporalTimeout) as err:
            # A local activity's final failure arrives as its own error (the activity's
            # ApplicationError, a timeout), not wrapped in an ActivityError.
            etype, msg = _failure_detail(err)
            self.record(step, "failed", f"{etype}: {msg}")
            self._show()
            raise StepFailed(step, etype, msg) from err
        return result

    def task_priority(self) -> Priority:
        """FIRST_RESPONSE for an activity of this run's first response, else the
        workflow's own priority (the default)."""
        age = workflow.now() - workflow.info().workflow_start_time
        if self.phase in FIRST_RESPONSE_PHASES and age < FIRST_RESPONSE_WINDOW:
            return FIRST_RESPONSE
        return Priority.default

    async def attempt(
        self,
        step: str,
        activity: Activity[I, R],
        arg: I,
        *,
        policy: ActivityPolicy | None = None,
    ) -> R | None:
        """`act`, for a step the runbook goes on without: a final failure is in the
        timeline already (act records it) and gives None, so the caller writes
        `if res is None: return ...` instead of a try/except around every call."""
        try:
            return await self.act(step, activity, arg, policy=policy)
        except StepFailed:
            return None


class Incident(Steps):
    """Base class of every playbook workflow."""

    playbook: str = "Incident"

    @workflow.init
    def __init__(self, inp: IncidentInput) -> None:
        # Set from the input before the first activation runs anything, so a query or an
        # update that arrives together with the start already sees a whole incident.
        super().__init__()
        self.alert: Alert = inp.alert
        self.detected_at: datetime = workflow.now()
        self.flapping = inp.flapping
        self._policy: ServicePolicy | None = None  # loaded by detect(); see `policy`
        self.severity = inp.alert.severity or Severity.P1
        self.alert_firing = inp.alert.status == "firing"
        # Instances (fingerprints) still firing: with several instances of one alert,
        # the incident's alert is resolved only when the last of them resolves.
        self.firing: set[str] = {inp.alert.fingerprint} if self.alert_firing else set()
        self.alerts_received = 0
        self.acknowledged_by: str | None = None
        self.acknowledged_at: datetime | None = None
        self.handed_over_at: datetime | None = None  # steps/escalation.hand_over
        self.paged = False
        self.paged_levels: list[str] = []  # paging levels paged this run, in order
        self.slack_posts_started = 0  # steps/notify: the first post routes to `alerts`
        # ServiceDown's crash reason, once known (LEAN_HISTORY_2): on every later update.
        self.crash_note = ""
        self.people = False  # PEOPLE_IN_THE_LOOP taken (set at detection)
        # Steps waiting for a human's `approve`/`reject` (workflows/steps/safety.py) ->
        # what each would do, and the answers: only a wait in progress can be answered,
        # never one in advance (an approval must not silently clear a later action).
        self.pending_approvals: dict[str, str] = {}
        self.decisions: dict[str, Decision] = {}
        self.outcome: Resolution | None = None
        self.deadline: datetime | None = None
        self._background: list[asyncio.Task[Any]] = []
        # "recurred: N earlier incidents ..." (workflows/steps/recurrence.py), shown in
        # every Slack update of this incident; empty when there was none or for old runs.
        self.recurrence = ""

    # ------------------------------------------------------------ identity
    @property
    def incident_id(self) -> str:
        return workflow.info().workflow_id

    @property
    def service(self) -> str:
        return self.alert.service

    @property
    def policy(self) -> ServicePolicy:
        """The service's policy, loaded by `detect()` before any playbook step runs. Never
        None for a playbook: a step that ran before detection would be a bug, and fails
        the workflow task loudly (fixable by a new worker) rather than guessing."""
        if self._policy is None:
            raise RuntimeError("service policy used before detect() loaded it")
        return self._policy

    @property
    def has_policy(self) -> bool:
        """False only when `detect()` could not load the policy (service not in the
        inventory): Triage's and escalation's paths check this before reading it."""
        return self._policy is not None

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    # ------------------------------------------------------------ signals / query / update
    @workflow.signal(name="alert_fired")
    def alert_fired(self, alert: Alert) -> None:
        # Repeats of the same alert join the incident; they never start another action.
        self.alerts_received += 1
        was_resolved = not self.alert_firing
        self.firing.add(alert.fingerprint)
        self.alert_firing = True
        if was_resolved:
            self.record("alert fired again", "info", f"fingerprint={alert.fingerprint}")

    @workflow.signal(name="alert_resolved")
    def alert_resolved(self, alert: Alert) -> None:
        # A resolution is recorded and may end waiting early; it never triggers an action.
        if not self.alert_firing:
            return
        self.firing.discard(alert.fingerprint)
        if self.firing:
            self.record(
                "alert instance resolved",
                "info",
                f"fingerprint={alert.fingerprint}; {len(self.firing)} still firing",
            )
        else:
            self.alert_firing = False
            self.record("alert resolved (Alertmanager)", "info", f"fingerprint={alert.fingerprint}")

    @workflow.update(name="acknowledge")
    def acknowledge(self, req: AckRequest) -> IncidentStatus:
        again = self.acknowledged_by is not None  # the hand-over, after the page (see below)
        self.acknowledged_by = req.by
        self.acknowledged_at = workflow.now()
        self.record(
            "acknowledged the escalation" if again else "acknowledged",
            "info",
            self._answered_by(ACKNOWLEDGE, req.by, req.via) + (f": {req.note}" if req.note else ""),
        )
        return self.status()

    @acknowledge.validator
    def _validate_ack(self, req: AckRequest) -> None:
        # Rejected updates never enter history: a closed incident stays closed.
        if self.finished:
            raise ValueError(f"incident {self.incident_id} is already {self.outcome}")
        if self.acknowledged_by and not self.awaits_owner:
            raise ValueError(f"already acknowledged by {self.acknowledged_by}")
        self._check_answerer(ACKNOWLEDGE, req.by)

    @property
    def awaits_owner(self) -> bool:
        """Handed over to a person and not acknowledged since. With paging at detection
        (PEOPLE_IN_THE_LOOP), on-call may acknowledge the *page* at minute 1; a later
        hand-over still needs someone to take the incident, so the escalation holds it
        open for its own acknowledgement (repeats of the alert keep joining it)."""
        if self.handed_over_at is None:
            return False
        if not self.people:
            return not self.acknowledged_by
        return self.acknowledged_at is None or self.acknowledged_at < self.handed_over_at

    @workflow.update(name="approve")
    def approve(self, req: ApproveRequest) -> IncidentStatus:
        self._decide(Decision(step=req.step, approved=True, by=req.by, text=req.note), req.via)
        return self.status()

    @approve.validator
    def _validate_approve(self, req: ApproveRequest) -> None:
        self._check_pending(req.step)
        self._check_answerer(req.step, req.by)

    @workflow.update(name="reject")
    def reject(self, req: RejectRequest) -> IncidentStatus:
        self._decide(Decision(step=req.step, approved=False, by=req.by, text=req.reason), req.via)
        return self.status()

    @reject.validator
    def _validate_reject(self, req: RejectRequest) -> None:
        self._check_pending(req.step)
        self._check_answerer(req.step, req.by)

    def _decide(self, d: Decision, via: str = "") -> None:
        self.pending_approvals.pop(d.step, None)  # answered: a second answer is refused
        self.decisions[d.step] = d
        verb = "approved" if d.approved else "rejected"
        self.record(
            f"{verb}: {d.step}",
            "info",
            self._answered_by(d.step, d.by, via) + (f": {d.text}" if d.text else ""),
        )

    def _check_answerer(self, step: str, by: str) -> None:
        """Refuse `by` unless the service's `approvers:` list them for `step`'s kind
        (workflows/contracts/approvers.py), naming who may. Without a policy (before
        detect(), or a service not in the inventory) there is no list to check."""
        allowed = who_may(self._policy.safety.approvers, step) if self._policy else None
        if allowed is None or by in allowed:
            return
        kind = kind_of(step)
        who = (
            ", ".join(allowed)
            if allowed
            else f"nobody: add `approvers: {{{kind}: [...]}}` (or `default`) for "
            f"{self.service} in the inventory"
        )
        raise ApplicationError(
            f"{by!r} may not answer {step!r} on {self.service}; who may: {who}",
            type="NotAnApprover",  # workflows/errors.py NotAnApprover (NOT_AN_APPROVER)
            non_retryable=True,
        )

    def _answered_by(self, step: str, by: str, via: str) -> str:
        # No approver list: anyone with Temporal access could have sent this `by`.
        listed = self._policy and who_may(self._policy.safety.approvers, step) is not None
        return (
            f"by {by}"
            + (f" via {via}" if via else "")
            + ("" if listed else " (not checked: no approvers configured)")
        )

    def _check_pending(self, step: str) -> None:
        # Rejected before history (validators run first), with the list a person needs.
        if self.finished:
            raise ValueError(f"incident {self.incident_id} is already {self.outcome}")
        if step not in self.pending_approvals:
            waiting = ", ".join(sorted(self.pending_approvals)) or "nothing"
            raise ValueError(f"no pending approval for {step!r} (waiting for: {waiting})")

    @workflow.query(name="status")
    def status(self) -> IncidentStatus:
        return IncidentStatus(
            incident_id=self.incident_id,
            playbook=self.playbook,
            service=self.alert.service,
            alertname=self.alert.alertname,
            severity=self.severity,
            phase=self.phase,
            acknowledged_by=self.acknowledged_by,
            alert_firing=self.alert_firing,
            alerts_received=self.alerts_received,
            detected_at=self.detected_at,
            deadline=self.deadline,
            paged=self.paged,
            outcome=self.outcome,
            timeline=list(self.timeline),
            pending_approvals=dict(self.pending_approvals),
        )

    # ------------------------------------------------------------ phases and timeline
    async def detect(self, inp: IncidentInput) -> ServicePolicy:
        """Phase 1, Detection: take the alert, tag the workflow, load the service's policy.

        Raises StepFailed (type UnknownService) when the service is not in the inventory;
        the workflow is tagged by then, so even that incident is findable in the UI.
        Playbooks extend it (workflows/playbook.py: recurrence, the phase clock)."""
        self.per_run  # noqa: B018  pins the run identity before the first side effect
        self.alerts_received = max(self.alerts_received, 1)
        self.record(
            "alert received",
            "info",
            f"{inp.alert.alertname} on {inp.alert.service}"
            + (f"; {inp.route_reason}" if inp.route_reason else "")
            + ("; FLAPPING" if inp.flapping else ""),
        )

        def tag() -> None:
            self.tag(
                SA_SERVICE.value_set(text.sa_value(inp.alert.service)),
                SA_ALERTNAME.value_set(text.sa_value(inp.alert.alertname)),
                SA_SEVERITY.value_set(self.severity.value),
                SA_PHASE.value_set(self.phase.value),
            )

        # LEAN_HISTORY: one upsert once the severity is known. The policy is a local
        # activity in the same workflow task, so the tags are not later for it.
        once = lean()
        if not once:
            tag()
        self._show()
        try:
            self._policy = await self.act(
                "load service policy",
                SERVICE_POLICY,
                ServicePolicyInput(service=inp.alert.service),
            )
        except StepFailed:
            if once:
                tag()  # an unknown service's incident is findable too
            raise
        if patched(PEOPLE_IN_THE_LOOP):
            self.people = True
            sev, source = severity.decide(
                self.playbook,
                inp.alert.alertname,
                inp.alert.severity,
                self.policy.severity_overrides,
                self.policy.severity_default,
            )
            label = f"; alert label {inp.alert.severity.value}" if inp.alert.severity else ""
            self.record("severity", "info", f"{sev.value} from the {source}{label}")
            if sev != self.severity:
                self.severity = sev
                if not once:
                    workflow.upsert_search_attributes([SA_SEVERITY.value_set(sev.value)])
        elif inp.alert.severity is None:
            self.severity = Severity(self.policy.severity_default)
            workflow.upsert_search_attributes([SA_SEVERITY.value_set(self.severity.value)])
        if once:
            tag()
        self._show()
        return self.policy

    def enter(self, phase: Phase) -> None:
        self.phase = phase
        self.record(f"phase: {phase.value}", "info")
        self.tag(SA_PHASE.value_set(phase.value))
        self._show()

    def _show(self) -> None:
        # "Current details" is what the Temporal UI shows for a running workflow.
        if self.alert is None:
            return
        last = self.timeline[-1] if self.timeline else None
        workflow.set_current_details(
            # Alert text is escaped (workflows/text.py): a label must not become markup.
            f"**{self.playbook}** · {text.md(self.alert.alertname)} on "
            f"{text.md(self.alert.service)} · "
            f"{self.severity.value} · phase **{self.phase.value}**"
            + (f" · outcome **{self.outcome}**" if self.outcome else "")
            + (f"\n\nlast step: {last.step} ({last.outcome})" if last else "")
        )

    # ------------------------------------------------------------ background work and deadlines
    def background(self, work: Awaitable[T]) -> asyncio.Task[T]:
        """Start work that must not block recovery (crash evidence, paging)."""
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self._background.append(task)
        return task

    def escalate_after(
        self, after: timedelta, what: str, on_expire: Callable[[], Awaitable[None]]
    ) -> asyncio.Task[None]:
        """An escalation deadline counted from detection: if the incident is still open
        when it expires, run `on_expire` (e.g. page the incident commander)."""
        self.deadline = self.detected_at + after

        async def watch() -> None:
            remaining = max(self.deadline - workflow.now(), timedelta(0))  # type: ignore[operator]
            try:
                await workflow.wait_condition(lambda: self.finished, timeout=remaining)
            except TimeoutError:
                self.record(f"deadline: {what}", "info", f"unresolved after {after}")
                await on_expire()

        return self.background(watch())

    async def settle_background(self) -> None:
        """Let background work finish (evidence, a page in flight) before the run returns."""
        for task in self._background:
            if not task.done():
                try:
                    await task
                except StepFailed:
                    pass  # already in the timeline
