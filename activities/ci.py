"""Rollback through CI: the runbook's `gh workflow run rollback.yml -R ORG/REPO -f
reason=...` as a GitHub Actions workflow-dispatch call.

    POST {api}/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches
    {"ref": REF, "inputs": {"reason": ..., "incident_id": KEY}}      -> 204 accepted

The token comes from the worker's environment (variable named by the inventory's
`token_env`): it is sent in the Authorization header and appears nowhere else -- not in
the input, the result, an error message or a log line (it is registered with
activities/http_client.py's redaction as soon as it is read).

Retries. 429 and 5xx (and no answer) raise the retryable `CiUnavailable`; any other 4xx
the non-retryable `CiRejected` (bad token, unknown workflow, undeclared input: a retry
cannot fix it).

At most once? GitHub's dispatch answers 204 with no run id and takes no idempotency key,
so a dispatch cannot be made exactly-once from this side alone. What this activity does:
before every attempt it lists the workflow's recent `workflow_dispatch` runs and looks
for the dispatch key in their `display_title` (as a whole word: `...:ci:1` is not
`...:ci:12`) -- the rollback workflow is expected to
declare the `incident_id` input and put it in its `run-name:` (README, "Agent Lab: High
Error Rate and Deployment Failure"). A retry after a crash or a 5xx that in fact
dispatched finds that run and does not dispatch again. The remaining window is at
least once: a crash after GitHub accepted the POST but before the run shows in the list
(seconds) dispatches a second run, which carries the same incident id and is therefore
recognisable; a rollback workflow that resets to a stable ref is harmless to run twice.
An in-process memo would not help at all: the retry that matters runs on another worker.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import app_error
from activities.http_client import error_text, http_client, redact_text, register_secrets
from activities.inventory import CiRollbackSpec, Inventory
from workflows.contracts.ci import CI_ROLLBACK_DISPATCH, CiDispatchInput, CiDispatchResult

API_VERSION = "2022-11-28"
RUNS_TO_SCAN = 50
TIMEOUT_S = 30.0


def _unavailable(msg: str) -> ApplicationError:
    return app_error("CiUnavailable", msg)


def _rejected(msg: str) -> ApplicationError:
    return app_error("CiRejected", msg)


def _check(resp: httpx.Response, what: str) -> None:
    """Raise for anything but 2xx: 429/5xx retryable, other 4xx not."""
    if resp.is_success:
        return
    msg = f"{what}: HTTP {resp.status_code}: {redact_text(resp.text)[:300]}"
    if resp.status_code == 429 or resp.status_code >= 500:
        raise _unavailable(msg)
    raise _rejected(msg)


class CiActivities:
    def __init__(self, inventory: Inventory, environ: Mapping[str, str] | None = None) -> None:
        self.inventory = inventory
        self.environ = os.environ if environ is None else environ

    @activity.defn(name=CI_ROLLBACK_DISPATCH.name)
    async def rollback_dispatch(self, inp: CiDispatchInput) -> CiDispatchResult:
        spec = self.inventory.service(inp.service).ci_rollback
        if spec is None:
            raise app_error("CommandNotConfigured", f"service {inp.service!r} has no ci_rollback")
        base = f"{spec.api_url.rstrip('/')}/repos/{spec.repo}/actions/workflows/{spec.workflow}"
        result = CiDispatchResult(
            repo=spec.repo, workflow=spec.workflow, ref=spec.ref, accepted=False
        )
        if self.inventory.safety_for(inp.service).dry_run:
            return result.model_copy(
                update={"dry_run": True, "detail": f"DRY RUN: would POST {base}/dispatches"}
            )
        token = self.environ.get(spec.token_env, "")
        if not token:
            # Named, never shown: the variable's name is inventory data, its value is not.
            raise _rejected(f"environment variable {spec.token_env} is not set on the worker")
        register_secrets(token)
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }
        async with http_client(TIMEOUT_S, headers=headers, egress=True) as http:
            try:
                if spec.incident_input and await self._already_ran(http, base, spec, inp):
                    return result.model_copy(
                        update={
                            "accepted": True,
                            "replayed": True,
                            "detail": f"a run for {inp.idempotency_key} is already in CI",
                        }
                    )
                resp = await http.post(f"{base}/dispatches", json=self._body(spec, inp))
            except httpx.HTTPError as e:
                raise _unavailable(f"{spec.repo}: {error_text(e, 300)}") from None
        _check(resp, f"dispatch {spec.workflow} on {spec.repo}")
        return result.model_copy(
            update={
                "accepted": resp.status_code == 204 or resp.is_success,
                "status_code": resp.status_code,
                "detail": f"{spec.workflow} dispatched on {spec.ref}",
            }
        )

    @staticmethod
    def _body(spec: CiRollbackSpec, inp: CiDispatchInput) -> dict[str, Any]:
        inputs = {spec.reason_input: inp.reason}
        if spec.incident_input:
            inputs[spec.incident_input] = inp.idempotency_key
        return {"ref": spec.ref, "inputs": inputs}

    @staticmethod
    async def _already_ran(
        http: httpx.AsyncClient,
        base: str,
        spec: CiRollbackSpec,
        inp: CiDispatchInput,
    ) -> bool:
        resp = await http.get(
            f"{base}/runs",
            params={"event": "workflow_dispatch", "branch": spec.ref, "per_page": RUNS_TO_SCAN},
        )
        _check(resp, f"list runs of {spec.workflow} on {spec.repo}")
        try:
            runs = resp.json().get("workflow_runs", [])
        except ValueError:
            raise _unavailable(f"list runs of {spec.workflow}: not JSON") from None
        return any(names_key(str(r.get("display_title", "")), inp.idempotency_key) for r in runs)


# What may stand around the key in a run name: blanks, brackets, quotes, separators.
_AROUND = r"""\s\[\](){}'"<>,;"""


def names_key(title: str, key: str) -> bool:
    """Does a run's title name exactly this key? The key must stand on its own, not be
    part of a longer one: `...:ci:1` is not in `rollback for ...:ci:12`."""
    pattern = rf"(?<![^{_AROUND}]){re.escape(key)}(?![^{_AROUND}])"
    return re.search(pattern, title) is not None
