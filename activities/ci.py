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

After the 204 (CI_RUN_STATUS, polled by the workflow between durable timers): the run
named by the key in the same listing -- its `status` (queued, in_progress, completed) and
`conclusion` (success, failure, cancelled, timed_out...). A 204 only says GitHub queued
the workflow; the rollback is done when that run concluded `success`.

Deployment Failure (CI_DEPLOY_EVIDENCE, read-only; CI_DISABLE_WORKFLOW):

    GET {repo}/actions/workflows/{deploy}/runs?status=failure&per_page=1   the failed run
    GET {repo}/actions/runs/{id}/jobs              its jobs; per failed job
    GET {repo}/actions/jobs/{job}/logs             302 to a signed URL: fetched without
                                                   the token, the tail kept
    GET {repo}/contents/.github/workflows/{deploy}?ref=REF   the workflow file, raw
    GET {repo}/commits/{head_sha}                  what the run deployed vs its parent
    PUT {repo}/actions/workflows/{deploy}/disable  `gh workflow disable deploy.yml`

The disable first reads the workflow's `state`: a retry (or a person who got there
first) finds it disabled and reports that, nothing is sent twice. Dry-run sends no PUT.
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
from activities.http_client import (
    error_text,
    http_client,
    public_url,
    redact_text,
    register_secrets,
)
from activities.inventory import CiRollbackSpec, Inventory
from workflows.contracts.ci import (
    CI_DEPLOY_EVIDENCE,
    CI_DISABLE_WORKFLOW,
    CI_ROLLBACK_DISPATCH,
    CI_RUN_STATUS,
    CiDeployEvidence,
    CiDeployInput,
    CiDisableInput,
    CiDisableResult,
    CiDispatchInput,
    CiDispatchResult,
    CiRunInput,
    CiRunResult,
)
from workflows.contracts.diagnostics import clip

API_VERSION = "2022-11-28"
RUNS_TO_SCAN = 50
TIMEOUT_S = 30.0
# What of the broken deploy enters history: the last lines of at most 3 failed jobs'
# logs, the head of the workflow file, the changed files and the start of their patch.
LOG_TAIL_LINES = 40
MAX_FAILED_JOBS = 3
WORKFLOW_FILE_LINES = 80
DIFF_FILES = 30
DIFF_PATCH_LINES = 60
# GitHub's log lines start with an ISO timestamp: noise in a timeline.
_LOG_STAMP = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT[\d:.]+Z ")


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
        async with self._client(spec) as http:
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

    def _spec(self, service: str) -> CiRollbackSpec:
        spec = self.inventory.service(service).ci_rollback
        if spec is None:
            raise app_error("CommandNotConfigured", f"service {service!r} has no ci_rollback")
        return spec

    def _client(self, spec: CiRollbackSpec) -> httpx.AsyncClient:
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
        return http_client(TIMEOUT_S, headers=headers, egress=True)

    # ------------------------------------------------------------ the dispatched run
    @activity.defn(name=CI_RUN_STATUS.name)
    async def rollback_run(self, inp: CiRunInput) -> CiRunResult:
        spec = self._spec(inp.service)
        if not spec.incident_input:
            # Without the key in the run's name there is no telling our run from others.
            raise app_error(
                "CommandNotConfigured",
                f"service {inp.service!r}: ci_rollback.incident_input is unset, so the "
                "dispatched run cannot be found",
            )
        base = _repo_api(spec) + f"/actions/workflows/{spec.workflow}"
        async with self._client(spec) as http:
            try:
                runs = await self._runs(http, base, spec)
            except httpx.HTTPError as e:
                raise _unavailable(f"{spec.repo}: {error_text(e, 300)}") from None
        # Newest first (the API's order): a second run under the same key (the at-least-
        # once window above) is the one that counts.
        run = next(
            (r for r in runs if names_key(str(r.get("display_title", "")), inp.idempotency_key)),
            None,
        )
        if run is None:
            return CiRunResult()
        return CiRunResult(
            found=True,
            run_id=_int(run.get("id")),
            status=str(run.get("status") or ""),
            conclusion=run.get("conclusion") or None,
            url=public_url(str(run.get("html_url") or "")),
        )

    # ------------------------------------------------------------ the broken deploy
    @activity.defn(name=CI_DEPLOY_EVIDENCE.name)
    async def deploy_evidence(self, inp: CiDeployInput) -> CiDeployEvidence:
        spec = self._spec(inp.service)
        deploy = _deploy_workflow(inp.service, spec)
        api = _repo_api(spec)
        out = CiDeployEvidence(repo=spec.repo, workflow=deploy)
        async with self._client(spec) as http:
            try:
                resp = await http.get(
                    f"{api}/actions/workflows/{deploy}/runs",
                    params={"status": "failure", "per_page": 1},
                )
                _check(resp, f"list failed runs of {deploy} on {spec.repo}")
                runs = _json(resp, deploy).get("workflow_runs") or []
                if runs:
                    run = runs[0]
                    out.run_id = _int(run.get("id"))
                    out.run_url = public_url(str(run.get("html_url") or ""))
                    out.head_sha = str(run.get("head_sha") or "")
                    _beat("jobs")
                    await self._failed_jobs(http, api, out)
                _beat("workflow file")
                out.workflow_file = await self._workflow_file(http, api, spec, deploy)
                if out.head_sha:
                    _beat("diff")
                    out.diff = await self._diff(http, api, out.head_sha)
            except httpx.HTTPError as e:
                raise _unavailable(f"{spec.repo}: {error_text(e, 300)}") from None
        out.detail = (
            f"failed run {out.run_id} at {out.head_sha[:12]}"
            if out.run_id
            else f"no failed run of {deploy} listed"
        )
        return out

    @staticmethod
    async def _failed_jobs(http: httpx.AsyncClient, api: str, out: CiDeployEvidence) -> None:
        resp = await http.get(f"{api}/actions/runs/{out.run_id}/jobs", params={"per_page": 100})
        _check(resp, f"jobs of run {out.run_id}")
        jobs = [
            j
            for j in _json(resp, "jobs").get("jobs") or []
            if j.get("conclusion") not in ("success", "skipped", None)
        ]
        out.failed_jobs = [clip(str(j.get("name", "?"))) for j in jobs]
        for j in jobs[:MAX_FAILED_JOBS]:
            resp = await http.get(f"{api}/actions/jobs/{_int(j.get('id'))}/logs")
            if resp.is_redirect and resp.headers.get("location"):
                # A signed blob URL: fetched without the token (it is not GitHub's API and
                # needs none), from the same egress settings.
                async with http_client(TIMEOUT_S, egress=True) as blob:
                    resp = await blob.get(resp.headers["location"])
            _check(resp, f"log of job {j.get('name')}")
            lines = [_LOG_STAMP.sub("", ln) for ln in resp.text.splitlines()]
            tail = [clip(redact_text(ln)) for ln in lines[-LOG_TAIL_LINES:]]
            out.log_tail += [f"[{clip(str(j.get('name', '?')))}]", *tail]

    @staticmethod
    async def _workflow_file(
        http: httpx.AsyncClient, api: str, spec: CiRollbackSpec, deploy: str
    ) -> list[str]:
        resp = await http.get(
            f"{api}/contents/{spec.workflows_dir.strip('/')}/{deploy}",
            params={"ref": spec.ref},
            headers={"Accept": "application/vnd.github.raw+json"},
        )
        _check(resp, f"read {deploy}")
        return [clip(redact_text(ln)) for ln in resp.text.splitlines()[:WORKFLOW_FILE_LINES]]

    @staticmethod
    async def _diff(http: httpx.AsyncClient, api: str, sha: str) -> list[str]:
        resp = await http.get(f"{api}/commits/{sha}")
        _check(resp, f"commit {sha[:12]}")
        files = _json(resp, "commit").get("files") or []
        out = [
            f"{f.get('status', '?')} {f.get('filename', '?')} "
            f"+{f.get('additions', 0)} -{f.get('deletions', 0)}"
            for f in files[:DIFF_FILES]
        ]
        if len(files) > DIFF_FILES:
            out.append(f"... {len(files) - DIFF_FILES} more files")
        patch = [ln for f in files for ln in str(f.get("patch") or "").splitlines()]
        out += [clip(redact_text(ln)) for ln in patch[:DIFF_PATCH_LINES]]
        return out

    @activity.defn(name=CI_DISABLE_WORKFLOW.name)
    async def disable_workflow(self, inp: CiDisableInput) -> CiDisableResult:
        spec = self._spec(inp.service)
        deploy = _deploy_workflow(inp.service, spec)
        url = f"{_repo_api(spec)}/actions/workflows/{deploy}"
        result = CiDisableResult(repo=spec.repo, workflow=deploy, disabled=False)
        if self.inventory.safety_for(inp.service).dry_run:
            return result.model_copy(
                update={"dry_run": True, "detail": f"DRY RUN: would PUT {url}/disable"}
            )
        async with self._client(spec) as http:
            try:
                resp = await http.get(url)
                _check(resp, f"read {deploy} on {spec.repo}")
                state = str(_json(resp, deploy).get("state") or "")
                if state.startswith("disabled"):
                    return result.model_copy(
                        update={"disabled": True, "already": True, "detail": f"already {state}"}
                    )
                resp = await http.put(f"{url}/disable")
            except httpx.HTTPError as e:
                raise _unavailable(f"{spec.repo}: {error_text(e, 300)}") from None
        _check(resp, f"disable {deploy} on {spec.repo}")
        return result.model_copy(
            update={
                "disabled": True,
                "status_code": resp.status_code,
                "detail": f"{deploy} disabled ({inp.idempotency_key})",
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
        runs = await CiActivities._runs(http, base, spec)
        return any(names_key(str(r.get("display_title", "")), inp.idempotency_key) for r in runs)

    @staticmethod
    async def _runs(
        http: httpx.AsyncClient, base: str, spec: CiRollbackSpec
    ) -> list[dict[str, Any]]:
        """The rollback workflow's recent dispatched runs, newest first."""
        resp = await http.get(
            f"{base}/runs",
            params={"event": "workflow_dispatch", "branch": spec.ref, "per_page": RUNS_TO_SCAN},
        )
        _check(resp, f"list runs of {spec.workflow} on {spec.repo}")
        return list(_json(resp, spec.workflow).get("workflow_runs") or [])


def _repo_api(spec: CiRollbackSpec) -> str:
    return f"{spec.api_url.rstrip('/')}/repos/{spec.repo}"


def _deploy_workflow(service: str, spec: CiRollbackSpec) -> str:
    if not spec.deploy_workflow:
        raise app_error(
            "CommandNotConfigured", f"service {service!r} has no ci_rollback.deploy_workflow"
        )
    return spec.deploy_workflow


def _json(resp: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        raise _unavailable(f"{what}: HTTP {resp.status_code}, not JSON") from None
    if not isinstance(body, dict):
        raise _unavailable(f"{what}: HTTP {resp.status_code}, not a JSON object")
    return body


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _beat(what: str) -> None:
    if activity.in_activity():
        activity.heartbeat(what)


# What may stand around the key in a run name: blanks, brackets, quotes, separators.
_AROUND = r"""\s\[\](){}'"<>,;"""


def names_key(title: str, key: str) -> bool:
    """Does a run's title name exactly this key? The key must stand on its own, not be
    part of a longer one: `...:ci:1` is not in `rollback for ...:ci:12`."""
    pattern = rf"(?<![^{_AROUND}]){re.escape(key)}(?![^{_AROUND}])"
    return re.search(pattern, title) is not None
