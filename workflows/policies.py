"""Named timeouts and retry policies. Playbooks refer to these names, never to numbers.

Why they differ:
- diagnostics are read-only, so they retry freely;
- side effects (restart, rollback steps) carry an idempotency key recorded on the target,
  so a retry after a worker crash is safe -- but a command that *ran* and failed is a
  result, not a transient error, and is returned rather than retried;
- notifications retry on 429/5xx with backoff, but are bounded so a broken Slack never
  blocks remediation (the activity raises non-retryable errors for other 4xx);
- host-key and authentication failures are raised non-retryable by the ssh activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy


@dataclass(frozen=True)
class ActivityPolicy:
    """How long and how often an activity may run. `local=True`: a short, read-only or
    idempotent call (the inventory, the worker's own files or Temporal client, a keyed
    incident-log line, a Prometheus query, an HTTP GET, `systemctl is-active`) that runs
    as a *local* activity -- inside the workflow task, one marker in history instead of
    three events and a workflow task of its own -- in runs under LEAN_HISTORY
    (workflows/incident.py, Incident.act). Never for a change to the service (restart,
    rollback, mitigation, containment), a message to people, or anything waiting on
    another workflow (the governor): a local activity holds its workflow task while it
    runs, and cannot heartbeat. The worker registers it like any other activity (one
    `activities=` list serves both)."""

    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None
    schedule_to_close: timedelta | None = None
    local: bool = False

    def __post_init__(self) -> None:
        if self.local and self.heartbeat is not None:
            raise ValueError("a local activity cannot heartbeat")


DIAGNOSTIC = ActivityPolicy(
    start_to_close=timedelta(minutes=2),
    heartbeat=timedelta(seconds=30),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=5,
    ),
)

SIDE_EFFECT = ActivityPolicy(
    start_to_close=timedelta(minutes=5),
    heartbeat=timedelta(seconds=30),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=4,
    ),
)

TEST_SUITE = ActivityPolicy(
    start_to_close=timedelta(minutes=30),
    heartbeat=timedelta(seconds=60),
    retry=RetryPolicy(maximum_attempts=2),
)

PROMETHEUS = ActivityPolicy(
    start_to_close=timedelta(seconds=30),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
    local=True,  # one read-only GET, bounded by the query's timeout_s
)

PROBE = ActivityPolicy(
    start_to_close=timedelta(seconds=30),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2),
)
# The service's health endpoint (http.probe): one read-only GET.
HEALTH_PROBE = ActivityPolicy(start_to_close=PROBE.start_to_close, retry=PROBE.retry, local=True)
# `systemctl is-active` (steps/recovery.is_active): read-only, one short SSH command on
# the worker's cached connection. A host that does not answer is "not active" (fail
# safe) after three quick attempts, not DIAGNOSTIC's five over minutes.
STATUS_CHECK = ActivityPolicy(
    start_to_close=timedelta(seconds=30),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
    local=True,
)

NOTIFY = ActivityPolicy(
    start_to_close=timedelta(seconds=30),
    schedule_to_close=timedelta(minutes=5),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=6,
    ),
)

# The inventory, the worker's data dir, the incident log (one keyed append).
LOCAL_CONFIG = ActivityPolicy(
    start_to_close=timedelta(seconds=10),
    retry=RetryPolicy(maximum_attempts=3),
    local=True,
)

# Earlier incidents from Temporal visibility (workflows/steps/recurrence.py): a list and
# a few result reads on the worker's own client. Short and barely retried: it is
# information, and it runs before the first remediation step.
EARLIER_INCIDENTS_LOOKUP = ActivityPolicy(
    start_to_close=timedelta(seconds=10),
    retry=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(seconds=1)),
    local=True,
)

# Asking the per-service governor for a permit (activities/governor.py): a Temporal
# round trip, retried briefly; a governor that cannot answer fails safe (escalates).
GOVERNOR = ActivityPolicy(
    start_to_close=timedelta(seconds=30),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
)

# The Rollback child workflow as a whole: the seeds give it 2-5 minutes; allow slack.
ROLLBACK_WORKFLOW_TIMEOUT = timedelta(minutes=20)

# Agent Lab upstream probes: five probes of up to 10 s each, so one attempt may take a
# minute; heartbeats between.
UPSTREAM = ActivityPolicy(
    start_to_close=timedelta(minutes=2),
    heartbeat=timedelta(seconds=30),
    retry=RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=2),
)

# GitHub answering 429/5xx is retried with backoff for up to 10 minutes; the activity
# raises non-retryable errors for other 4xx. Each attempt first looks for a run already
# dispatched under the same key (activities/ci.py).
CI_DISPATCH = ActivityPolicy(
    start_to_close=timedelta(minutes=1),
    schedule_to_close=timedelta(minutes=10),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=8,
    ),
)

# A streaming read is bounded by the inventory's timeout (<= 300 s); one retry for a
# worker lost mid-read. The playbook itself retries on its own schedule.
STREAM_PROBE = ActivityPolicy(
    start_to_close=timedelta(minutes=6),
    retry=RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=2),
)

# The load probe is never retried by Temporal: a retry would send the whole load again.
# Heartbeats let a lost worker be noticed; start_to_close is the hard cap on the probe's
# duration (contracts/http.py LOAD_MAX_DURATION_S = 300 s) plus a minute of slack.
LOAD_PROBE = ActivityPolicy(
    start_to_close=timedelta(seconds=300 + 60),
    heartbeat=timedelta(seconds=30),
    retry=RetryPolicy(maximum_attempts=1),
)
