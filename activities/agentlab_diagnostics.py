"""Agent Lab "High Error Rate" and "Deployment Failure" investigation, read-only:

- error groups: the runbook's `grep 'ERROR' LOG | cut -d' ' -f4- | sort | uniq -c |
  sort -nr`, as the fixed script ERROR_GROUPS_SCRIPT with the log path and the top N as
  argv words -- the pipeline runs on the host, so only N counted lines come back;
- recent changes: `git log --oneline -N` in the service's checkout, an argv (no shell);
- upstream latency: the runbook's five timed `curl`s, with httpx from the worker and
  *without* the runbook's Authorization header: a 401 still measures the round trip, and
  no credential is ever sent or recorded;
- deployment checks: startup logs, import check, smoke tests -- inventory argv lists.

Captured output is redacted by the ssh layer before it is returned.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import httpx
from temporalio import activity

from activities.errors import app_error
from activities.inventory import CommandSpec, Inventory, ServiceSpec
from activities.service import resolve_command, resolve_host
from activities.ssh import run_on_host
from activities.ssh_policy import check_service_command, redact
from workflows.contracts.diagnostics import (
    ERROR_GROUPS,
    RECENT_CHANGES,
    ErrorGroup,
    ErrorGroupsInput,
    ErrorGroupsResult,
    RecentChangesInput,
    RecentChangesResult,
    clip,
)
from workflows.contracts.http import (
    UPSTREAM_PROBE,
    UpstreamProbeInput,
    UpstreamProbeResult,
    UpstreamSample,
)
from workflows.contracts.service import (
    DEPLOY_COMMAND,
    CommandKind,
    DeployCommandInput,
    DeployCommandResult,
)

# $1 log file, $2 how many groups. Line 1: the number of ERROR lines; then `uniq -c`
# lines, most frequent first. Exit 3: the log cannot be read (grep's own 2 would be
# indistinguishable from "no match" once piped).
ERROR_GROUPS_SCRIPT = r"""log=$1 top=$2
[ -r "$log" ] || { printf 'cannot read %s\n' "$log" >&2; exit 3; }
grep -c 'ERROR' "$log"
grep 'ERROR' "$log" | cut -d' ' -f4- | sort | uniq -c | sort -nr | head -n "$top"
exit 0
"""
EXCERPT_LINES = 20
DEFAULT_IMPORT_CHECK = ["python", "-c", "import app; print('Import OK')"]


def parse_groups(stdout: str) -> tuple[int, list[ErrorGroup]]:
    lines = stdout.splitlines()
    total = int(lines[0].strip()) if lines and lines[0].strip().isdigit() else 0
    groups = []
    for ln in lines[1:]:
        count, _, message = ln.strip().partition(" ")
        if count.isdigit():
            groups.append(ErrorGroup(count=int(count), message=clip(message)))
    return total, groups


def public_url(url: str) -> str:
    """The URL without credentials, query or fragment: what may enter history."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def without_userinfo(url: str) -> str:
    """`user:pw@` in a URL would make httpx send Basic auth: never the probe's to send."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def upstream_url(svc: ServiceSpec) -> str | None:
    return svc.upstream_probe_url or (svc.agent_lab.upstream_url if svc.agent_lab else None)


def source_repo(svc: ServiceSpec) -> str | None:
    return svc.source_repo or (svc.rollback.repo_path if svc.rollback else None)


class AgentLabDiagnosticsActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def _host(self, service: str) -> tuple[ServiceSpec, str]:
        svc = self.inventory.service(service)
        return svc, resolve_host(service, svc, None)

    @activity.defn(name=ERROR_GROUPS.name)
    async def error_groups(self, inp: ErrorGroupsInput) -> ErrorGroupsResult:
        svc, host = self._host(inp.service)
        if not svc.log_files:
            raise app_error("CommandNotConfigured", f"service {inp.service!r} has no log_files")
        log = svc.log_files[0]
        res = await run_on_host(
            host,
            self.inventory.host(host),
            ["sh", "-c", ERROR_GROUPS_SCRIPT, "remedy-error-groups", log, str(inp.top)],
            timeout_s=120,
            max_output_bytes=256 * 1024,
        )
        if not res.ok:
            # Not retried: a missing or unreadable log stays so; the playbook goes on.
            raise app_error(
                "LogUnreadable",
                f"{host}:{log}: exit {res.exit_status}: {res.stderr.strip()[:300]}",
            )
        total, groups = parse_groups(res.stdout)
        return ErrorGroupsResult(log_file=f"{host}:{log}", error_lines=total, groups=groups)

    @activity.defn(name=RECENT_CHANGES.name)
    async def recent_changes(self, inp: RecentChangesInput) -> RecentChangesResult:
        svc, host = self._host(inp.service)
        repo = source_repo(svc)
        if repo is None:
            raise app_error(
                "CommandNotConfigured", f"service {inp.service!r} has no source_repo or rollback"
            )
        argv = ["git", "-C", repo, "log", "--oneline", "--no-color", "-n", str(inp.count)]
        res = await run_on_host(
            host, self.inventory.host(host), argv, timeout_s=60, max_output_bytes=64 * 1024
        )
        if not res.ok:
            raise app_error(
                "CommandFailed",
                f"{host}: git log in {repo}: exit {res.exit_status}: {res.stderr.strip()[:300]}",
            )
        return RecentChangesResult(
            repo=f"{host}:{repo}", commits=[clip(c) for c in res.stdout.splitlines()]
        )

    @activity.defn(name=UPSTREAM_PROBE.name)
    async def upstream_probe(self, inp: UpstreamProbeInput) -> UpstreamProbeResult:
        svc = self.inventory.service(inp.service)
        url = upstream_url(svc)
        if url is None:
            raise app_error(
                "ProbeNotConfigured", f"service {inp.service!r} has no upstream_probe_url"
            )
        target = without_userinfo(url)
        samples: list[UpstreamSample] = []
        # A fresh client per probe run, no auth, no redirects, no environment proxies or
        # netrc: nothing the worker's environment holds can add a credential.
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as http:
            for _ in range(inp.attempts):
                activity.heartbeat()
                started = time.monotonic()
                try:
                    resp = await http.get(target, timeout=inp.timeout_s)
                    samples.append(
                        UpstreamSample(
                            status_code=resp.status_code, latency_s=time.monotonic() - started
                        )
                    )
                except httpx.HTTPError as e:
                    samples.append(
                        UpstreamSample(
                            latency_s=time.monotonic() - started,
                            error=redact(f"{type(e).__name__}: {e}")[:300],
                        )
                    )
        return UpstreamProbeResult(url=public_url(url), samples=samples)

    @activity.defn(name=DEPLOY_COMMAND.name)
    async def deploy_command(self, inp: DeployCommandInput) -> DeployCommandResult:
        svc, host = self._host(inp.service)
        spec = self._deploy_spec(inp, svc)
        if spec is None:
            return DeployCommandResult(kind=inp.kind, configured=False)
        check_service_command(self.inventory, inp.service, spec)
        res = await run_on_host(
            host,
            self.inventory.host(host),
            spec.argv,
            timeout_s=spec.timeout_s,
            max_output_bytes=256 * 1024,
            cwd=spec.cwd,
            shell=spec.shell,
        )
        text = (res.stdout + ("\n" + res.stderr if res.stderr.strip() else "")).strip()
        return DeployCommandResult(
            kind=inp.kind,
            exit_status=res.exit_status,
            excerpt=[clip(ln) for ln in text.splitlines()[-EXCERPT_LINES:]],
        )

    def _deploy_spec(self, inp: DeployCommandInput, svc: ServiceSpec) -> CommandSpec | None:
        if inp.kind == "startup_logs":
            # `journalctl -u agent-lab -n 50` where configured, else the service's logs.
            return svc.startup_logs or resolve_command(inp.service, svc, CommandKind.LOGS)
        if inp.kind == "import_check":
            if svc.import_check is not None:
                return svc.import_check
            suite = svc.commands.get(CommandKind.TEST_SUITE)
            return CommandSpec(argv=DEFAULT_IMPORT_CHECK, cwd=suite.cwd if suite else None)
        return svc.smoke_test
