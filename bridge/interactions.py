"""People answering incidents through the bridge, with an identity someone vouches for:

    POST /slack/interactions  Slack's interactivity request URL: the Approve / Reject /
                              Acknowledge buttons on Remedy's Slack messages
                              (activities/notify.py). Signed by Slack: X-Slack-Signature
                              = v0=hex(HMAC-SHA256(REMEDY_SLACK_SIGNING_SECRET,
                              "v0:<X-Slack-Request-Timestamp>:<body>")), timestamp within
                              5 minutes.
    POST /pagerduty           a PagerDuty v3 webhook subscription: incident.acknowledged
                              -> the `acknowledge` update. X-PagerDuty-Signature =
                              v1=hex(HMAC-SHA256(REMEDY_PAGERDUTY_WEBHOOK_SECRET, body)),
                              possibly several, comma-separated (secret rotation).

The signature proves who sent the request (Slack, PagerDuty) and so which of *their*
users acted; the inventory's `people:` maps that user id to a person's name
(activities/inventory/people.py) -- the bridge loads the same inventory file as the
worker -- and the workflow's update validator checks the name against the service's
`approvers:` (workflows/contracts/approvers.py). Validators run before anything is
written, so every refusal below leaves the workflow's history as it was.

    401  no / a wrong / a stale signature          (checked before the body is parsed)
    403  a user not under people:, or a person the service does not list (the validator's
         words, naming who may)
    409  the workflow refused otherwise: nothing pending for that step, closed, already
         acknowledged
    404  the endpoint is not configured (no secret), or no such incident run
    400  malformed body; 413 too large; 503 Temporal unavailable (retry)

PagerDuty deliveries about incidents Remedy did not open (their incident_key is not a
Remedy run key) and other event types are answered 200 "ignored", so the subscription
stays healthy. Button values and PagerDuty's incident_key carry the incident *run*
(`<workflow id>@<first run id>`, Incident.run_key): an answer to an earlier incident
never lands on the next one of the same alert.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.inventory import Inventory
from bridge.metrics import BridgeMetrics
from bridge.temporal_link import TemporalLink, is_transient
from remedy.settings import Settings
from workflows.contracts.approvers import NOT_AN_APPROVER
from workflows.contracts.safety import ApproveRequest, RejectRequest
from workflows.models import AckRequest

log = logging.getLogger("remedy.bridge")

MAX_AGE_S = 300  # Slack's own advice: older requests may be replays
MAX_BODY = 64 * 1024
# action_id prefix of Remedy's buttons: "remedy:<verb>:<n>" (n: unique in a message).
ACTION_PREFIX = "remedy:"
VERBS = ("approve", "reject", "acknowledge")


class Refused(Exception):
    def __init__(self, code: int, reason: str, error: str) -> None:
        super().__init__(error)
        self.code, self.reason, self.error = code, reason, error


# ---------------------------------------------------------------- signatures
def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def check_slack(secret: str, headers: dict[str, str], body: bytes, now: float) -> None:
    ts = headers.get("x-slack-request-timestamp", "")
    sig = headers.get("x-slack-signature", "")
    if not ts or not sig:
        raise Refused(401, "unsigned", "missing X-Slack-Signature or X-Slack-Request-Timestamp")
    if not ts.isdigit() or abs(now - int(ts)) > MAX_AGE_S:
        raise Refused(401, "stale", "request timestamp is not within 5 minutes")
    # Constant time: no early exit on the first wrong byte.
    if not hmac.compare_digest(slack_signature(secret, ts, body).encode(), sig.encode()):
        raise Refused(401, "bad_signature", "invalid X-Slack-Signature")


def pagerduty_signature(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_pagerduty(secret: str, headers: dict[str, str], body: bytes) -> None:
    given = [s.strip() for s in headers.get("x-pagerduty-signature", "").split(",") if s.strip()]
    if not given:
        raise Refused(401, "unsigned", "missing X-PagerDuty-Signature")
    want = pagerduty_signature(secret, body).encode()
    # Every candidate is compared (no short circuit), each in constant time.
    ok = [hmac.compare_digest(want, s.encode()) for s in given]
    if not any(ok):
        raise Refused(401, "bad_signature", "invalid X-PagerDuty-Signature")


# ---------------------------------------------------------------- what was asked
@dataclass
class Answer:
    verb: str  # approve | reject | acknowledge
    run_key: str  # "<workflow id>@<first run id>" (or a bare workflow id: older runs)
    by: str
    via: str
    step: str = ""
    note: str = ""

    def request(self) -> BaseModel:
        if self.verb == "approve":
            return ApproveRequest(by=self.by, step=self.step, note=self.note, via=self.via)
        if self.verb == "reject":
            return RejectRequest(
                by=self.by, step=self.step, reason=self.note or "rejected", via=self.via
            )
        return AckRequest(by=self.by, note=self.note, via=self.via)


def slack_answer(body: bytes, inventory: Inventory) -> Answer:
    """A block_actions payload (form field `payload`, JSON) -> the answer it carries."""
    try:
        form = parse_qs(body.decode(), strict_parsing=True)
        data: dict[str, Any] = json.loads(form["payload"][0])
        user = str(data["user"]["id"])
        action = data["actions"][0]
        action_id = str(action["action_id"])
        value = json.loads(action["value"])
        run_key = str(value["incident"])
        step = str(value.get("step", ""))
    except (UnicodeDecodeError, ValueError, KeyError, IndexError, TypeError) as err:
        raise Refused(400, "malformed", f"not a Slack block_actions payload ({err})") from None
    verb = action_id.removeprefix(ACTION_PREFIX).split(":")[0]
    if not action_id.startswith(ACTION_PREFIX) or verb not in VERBS:
        raise Refused(400, "malformed", f"not a Remedy button: {action_id[:60]!r}")
    if verb != "acknowledge" and not step:
        raise Refused(400, "malformed", "the button names no step")
    person = inventory.person_by("slack", user)
    if person is None:
        raise Refused(403, "unknown_user", f"Slack user {user[:40]} is not under people:")
    note = "rejected in Slack" if verb == "reject" else ""
    return Answer(verb, run_key, person, f"slack ({user})", step, note)


def pagerduty_answer(body: bytes, inventory: Inventory, now: float) -> Answer | None:
    """A v3 webhook -> the acknowledgement it carries; None: not one for Remedy."""
    try:
        event: dict[str, Any] = json.loads(body)["event"]
        kind = str(event["event_type"])
        occurred = datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00"))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise Refused(400, "malformed", f"not a PagerDuty v3 webhook ({err})") from None
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    # The body, occurred_at included, is what PagerDuty signed: an old one is a replay.
    if abs(now - occurred.timestamp()) > MAX_AGE_S:
        raise Refused(401, "stale", "event occurred_at is not within 5 minutes")
    if kind != "incident.acknowledged":
        return None
    data = event.get("data") or {}
    key = data.get("incident_key") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key.startswith("incident:"):
        return None  # a PagerDuty incident Remedy did not open
    agent = event.get("agent") or {}
    user = str(agent.get("id", "")) if agent.get("type") == "user_reference" else ""
    person = inventory.person_by("pagerduty", user) if user else None
    if person is None:
        who = f"PagerDuty user {user[:40]}" if user else "a non-user PagerDuty agent"
        raise Refused(403, "unknown_user", f"{who} is not under people:")
    return Answer("acknowledge", key, person, f"pagerduty ({user})", note="in PagerDuty")


# ---------------------------------------------------------------- to the workflow
async def deliver(link: TemporalLink, metrics: BridgeMetrics, answer: Answer) -> dict[str, Any]:
    """Send the update and wait for the workflow's answer: its validator runs first (the
    approver check), and only an accepted update is written to history."""
    wid, _, rid = answer.run_key.partition("@")
    try:
        client = await link.get()
        handle = client.get_workflow_handle(wid, first_execution_run_id=rid or None)
        metrics.temporal_calls.labels("update").inc()
        # The handlers answer at once (no waiting inside), so completed = accepted; a
        # validator's refusal is raised here as WorkflowUpdateFailedError.
        await handle.execute_update(
            answer.verb, answer.request(), rpc_timeout=timedelta(seconds=link.timeout_s)
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == NOT_AN_APPROVER:
            raise Refused(403, "not_an_approver", cause.message) from None
        msg = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        raise Refused(409, "refused_by_workflow", msg) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise Refused(404, "no_incident", f"no open incident run {answer.run_key}") from None
        if is_transient(err):
            raise Refused(503, "temporal_unavailable", "Temporal unavailable; retry") from None
        raise
    except (TimeoutError, ConnectionError, OSError, RuntimeError) as err:
        log.warning("update %s on %s: %s", answer.verb, wid, err)
        raise Refused(503, "temporal_unavailable", "Temporal unavailable; retry") from None
    return {
        "status": "ok",
        "incident": wid,
        "verb": answer.verb,
        "step": answer.step,
        "by": answer.by,
    }


# ---------------------------------------------------------------- the endpoints
async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise Refused(413, "too_large", f"request body exceeds {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refused(413, "too_large", f"request body exceeds {MAX_BODY} bytes")
    return bytes(body)


def add_routes(
    app: FastAPI,
    settings: Settings,
    inventory: Inventory,
    link: TemporalLink,
    metrics: BridgeMetrics,
) -> None:
    slack_secret = settings.slack_signing_secret
    pd_secret = settings.pagerduty_webhook_secret

    async def answer(request: Request, path: str, work: Any) -> JSONResponse:
        started = time.perf_counter()
        try:
            body = await work(await _body(request), dict(request.headers))
            response = JSONResponse(body)
        except Refused as r:
            metrics.rejects.labels(r.reason).inc()
            if r.code in (401, 403):
                log.warning("%s refused (%d %s): %s", path, r.code, r.reason, r.error)
            response = JSONResponse({"error": r.error}, status_code=r.code)
        except ValidationError as err:  # a field out of its contract's bounds
            response = JSONResponse({"error": str(err.errors()[:1])}, status_code=400)
        metrics.latency.labels(path, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    @app.post("/slack/interactions", include_in_schema=False)
    async def slack_interactions(request: Request) -> JSONResponse:
        async def work(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
            if slack_secret is None:
                raise Refused(404, "not_configured", "REMEDY_SLACK_SIGNING_SECRET is not set")
            check_slack(slack_secret.get_secret_value(), headers, body, time.time())
            return await deliver(link, metrics, slack_answer(body, inventory))

        return await answer(request, "/slack/interactions", work)

    @app.post("/pagerduty", include_in_schema=False)
    async def pagerduty(request: Request) -> JSONResponse:
        async def work(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
            if pd_secret is None:
                raise Refused(404, "not_configured", "REMEDY_PAGERDUTY_WEBHOOK_SECRET is not set")
            check_pagerduty(pd_secret.get_secret_value(), headers, body)
            ack = pagerduty_answer(body, inventory, time.time())
            if ack is None:
                return {"status": "ignored"}
            try:
                return await deliver(link, metrics, ack)
            except Refused as r:
                if r.code in (404, 409):  # not ours any more, or already acknowledged
                    return {"status": "ignored", "detail": r.error}
                raise

        return await answer(request, "/pagerduty", work)
