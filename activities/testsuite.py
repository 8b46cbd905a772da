"""TestPassRateLow's diagnosis: run the service's test suite over SSH and read pytest.

The runbook's `pytest tests/ -v --tb=short | tee logs/incident_test_run.log`, then
`grep FAILED`. The full log stays on the host (`testing.run_log`); only the lines that
matter come back (failure ids, the final counts line, and the section headers and `E`
lines of the tracebacks, filtered by grep on the host), and the result carries counts
and bounded id lists -- a suite's whole output never enters workflow history. The
tracebacks give "Check for Common Patterns" its failure kinds: each failure's first `E`
line (its exception) is matched against `testing.failure_patterns`; only the counts
per kind are kept.

The runbook's other common-pattern and Scenario A commands (`./scripts/health_check.sh`,
`git log --oneline --since="24 hours ago" infrastructure/`) are `testing.health_check`
and `testing.recent_changes`: read-only argvs run in the suite's cwd, their first lines
returned (`check`).

Pass rate = passed / (passed + failed + errors): xfail/xpass/skip are the suite's own
declared expectations, not passes or failures of the code under test.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from temporalio import activity

from activities.errors import app_error
from activities.inventory import CommandSpec, Inventory, ServiceSpec
from activities.scripts import RUN_SCRIPT
from activities.service import resolve_command, resolve_host
from activities.ssh import run_checked
from activities.ssh_policy import check_service_command
from workflows.contracts.diagnostics import MAX_IDS, MAX_OUTPUT_CHARS, DiagCommand, clip
from workflows.contracts.service import CommandKind
from workflows.contracts.testsuite import (
    TESTSUITE_CHECK,
    TESTSUITE_RUN,
    CheckInput,
    CheckResult,
    TestingPolicy,
    TestRunInput,
    TestRunResult,
)

# pytest's lines worth bringing back: short-summary and -v result lines for failures,
# the final "N failed, M passed ... in 1.23s" line, and for the failure kinds the
# "=== FAILURES ===" / "___ test_x ___" headers and the tracebacks' `E   ` lines.
_KEEP = (
    r"^(FAILED|ERROR) |::[^ ]* (FAILED|ERROR)|[0-9]+ (passed|failed|errors?)| in [0-9.]+s"
    r"|^={3,} [A-Za-z ]+ ={3,}$|^_+ .+ _+$|^E  "
)
BASELINE_MARK = "@@remedy-baseline@@"
_NODE_ID = re.compile(r"^[\w./-]+\.py(::[\w\[\]./:=,+-]+)*$")
_FAIL_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+)|^(\S+::\S+) (?:FAILED|ERROR)\b")
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b")
_FINAL = re.compile(r" in [\d.]+s\b")
_OUTPUT_CAP = 1024 * 1024  # filtered lines only; parsed here, never stored whole
_BANNER = re.compile(r"^={3,} ([A-Za-z ]+?) ={3,}$")  # "=== FAILURES ===", "=== ERRORS ==="
# One failure's traceback: "___ test_x ___" (not the "_ _ _ _" between chained ones).
_SECTION = re.compile(r"^_+ (.+) _+$")
_E_LINE = re.compile(r"^E\s+(\S.*)$")


@dataclass
class PytestSummary:
    counts: dict[str, int] = field(default_factory=dict)
    failing: list[str] = field(default_factory=list)  # ordered, unique
    summary: str = ""
    # Per failure/error section of the tracebacks: its first `E` line ("" if none).
    exceptions: list[str] = field(default_factory=list)

    @property
    def pass_rate(self) -> float | None:
        passed = self.counts.get("passed", 0)
        total = passed + self.counts.get("failed", 0) + self.counts.get("errors", 0)
        return passed / total if total else None


def parse_pytest(text: str) -> PytestSummary:
    """Read pytest's terminal output (any verbosity): failing ids and the final counts."""
    out = PytestSummary()
    seen: set[str] = set()
    in_failures = False  # inside the FAILURES or ERRORS part of the report
    open_section = False  # a section whose first E line is still to come
    for line in text.splitlines():
        banner = _BANNER.match(line)
        if banner:
            in_failures = banner.group(1) in ("FAILURES", "ERRORS")
            open_section = False
            continue
        sec = _SECTION.match(line)
        if in_failures and sec and sec.group(1).strip("_ "):
            out.exceptions.append("")
            open_section = True
            continue
        e = _E_LINE.match(line)
        if e:
            if open_section:
                out.exceptions[-1] = e.group(1)[:300]
                open_section = False
            continue
        m = _FAIL_LINE.match(line)
        if m:
            node = m.group(1) or m.group(2)
            if node not in seen:
                seen.add(node)
                out.failing.append(node)
            continue
        counts = _COUNT.findall(line)
        if counts and _FINAL.search(line):
            # The last such line wins: that is pytest's closing summary.
            out.summary = line.strip("= ").strip()
            out.counts = {("errors" if k == "error" else k): int(n) for n, k in counts}
    return out


def categorize(node_ids: list[str], categories: dict[str, list[str]]) -> dict[str, list[str]]:
    """Sort ids into the runbook's groups: patterns are tried on the test file first (the
    known intermittent HALO test lives in test_performance.py: a performance test), then
    on the whole id; no match is `other`."""
    out: dict[str, list[str]] = {}
    compiled = {c: [re.compile(p) for p in ps] for c, ps in categories.items()}
    for node in node_ids:
        file = node.split("::", 1)[0]
        cat = next(
            (c for c, ps in compiled.items() if any(p.search(file) for p in ps)), None
        ) or next((c for c, ps in compiled.items() if any(p.search(node) for p in ps)), "other")
        out.setdefault(cat, []).append(node)
    return out


def failure_kinds(exceptions: list[str], patterns: dict[str, list[str]]) -> dict[str, int]:
    """Each failure's exception line into the first kind whose pattern it matches (the
    runbook's "common patterns": import errors, timeouts, connection errors, assertion
    failures); none is `other`."""
    compiled = {k: [re.compile(p) for p in ps] for k, ps in patterns.items()}
    out: dict[str, int] = {}
    for exc in exceptions:
        kind = next((k for k, ps in compiled.items() if any(p.search(exc) for p in ps)), "other")
        out[kind] = out.get(kind, 0) + 1
    return out


def to_result(
    exit_status: int,
    text: str,
    categories: dict[str, list[str]],
    log_path: str,
    testing: TestingPolicy | None = None,
) -> TestRunResult:
    current, _, baseline_text = text.partition(BASELINE_MARK)
    run = parse_pytest(current)
    new: list[str] | None = None
    if BASELINE_MARK in text:
        before = set(parse_pytest(baseline_text).failing)
        new = [n for n in run.failing if n not in before][:MAX_IDS]
    c = run.counts
    t = testing or TestingPolicy()
    groups = categorize(run.failing, categories)
    non_critical = [n for g in t.non_critical for n in groups.get(g, [])]
    return TestRunResult(
        exit_status=exit_status,
        passed=c.get("passed", 0),
        failed=c.get("failed", 0),
        errors=c.get("errors", 0),
        skipped=c.get("skipped", 0),
        xfailed=c.get("xfailed", 0),
        xpassed=c.get("xpassed", 0),
        pass_rate=run.pass_rate,
        failing=run.failing[:MAX_IDS],
        failing_total=len(run.failing),
        categories={k: len(v) for k, v in groups.items()},
        new_failures=new,
        summary=run.summary or f"no pytest summary (exit {exit_status})",
        log_path=log_path,
        patterns=failure_kinds(run.exceptions, t.failure_patterns),
        non_critical_failing=non_critical[:MAX_IDS],
    )


class TestSuiteActivities:
    __test__ = False  # an activity class, not a pytest test class

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def _suite(self, service: str) -> tuple[ServiceSpec, str, CommandSpec]:
        svc = self.inventory.service(service)
        spec = resolve_command(service, svc, CommandKind.TEST_SUITE)
        check_service_command(self.inventory, service, spec)
        return svc, resolve_host(service, svc, None), spec

    @activity.defn(name=TESTSUITE_RUN.name)
    async def run(self, inp: TestRunInput) -> TestRunResult:
        svc, host_name, spec = self._suite(inp.service)
        t = svc.testing
        if inp.node_ids:
            bad = [n for n in inp.node_ids if not _NODE_ID.match(n)]
            if bad:
                raise app_error("CommandNotConfigured", f"not pytest node ids: {bad!r}")
            argv, log, base = [*t.isolate_argv, *inp.node_ids], t.run_log + ".isolated", ""
        else:
            argv = ["sh", "-c", spec.argv[0]] if spec.shell else spec.argv
            log, base = t.run_log, t.baseline_log or ""
            if inp.verification:  # the diagnosis run's log is the incident's evidence
                log, base = t.run_log + ".verify", ""
        # The fixed RUN_SCRIPT is admitted byte-exact, and only with a command the
        # service's allowlist admits (its test suite, or isolation of known ids).
        res = await run_checked(
            self.inventory,
            inp.service,
            host_name,
            ["sh", "-c", RUN_SCRIPT, "remedy-tests", _KEEP, log, base, *argv],
            timeout_s=spec.timeout_s,
            max_output_bytes=_OUTPUT_CAP,
            cwd=spec.cwd,
        )
        return to_result(res.exit_status, res.stdout, t.categories, f"{host_name}:{log}", t)

    @activity.defn(name=TESTSUITE_CHECK.name)
    async def check(self, inp: CheckInput) -> CheckResult:
        """Scenario A: `python3 -c "from infrastructure import ..."` and
        `pip list | grep -E "opentelemetry|pytest|prometheus"`; Diagnosis 4 and Scenario
        A's review: `./scripts/health_check.sh`, `git log --since="24 hours ago" ...`."""
        svc, host_name, suite = self._suite(inp.service)
        t = svc.testing
        if inp.check in ("health_check", "recent_changes"):
            return await self._read_only(inp, host_name, suite.cwd, t)
        argv = t.import_check if inp.check == "imports" else t.dependency_list
        if not argv or (inp.check == "dependencies" and not t.required_packages):
            return CheckResult(ok=True, skipped=True, detail=f"no {inp.check} check configured")
        res = await run_checked(
            self.inventory,
            inp.service,
            host_name,
            argv,
            timeout_s=120,
            max_output_bytes=256 * 1024,
            cwd=suite.cwd,
        )
        if inp.check == "imports":
            last = (res.stderr.strip().splitlines() or [""])[-1][:300]
            return CheckResult(ok=res.ok, detail=f"exit {res.exit_status} {last}".strip())
        if not res.ok:
            return CheckResult(ok=False, detail=f"{argv[0]} exit {res.exit_status}")
        lines = res.stdout.lower().splitlines()
        missing = [p for p in t.required_packages if not any(p.lower() in ln for ln in lines)]
        return CheckResult(
            ok=not missing,
            detail=f"missing: {', '.join(missing)}" if missing else "required packages present",
        )

    async def _read_only(
        self, inp: CheckInput, host_name: str, cwd: str | None, t: TestingPolicy
    ) -> CheckResult:
        cmd: DiagCommand | None = getattr(t, inp.check)
        if cmd is None:
            return CheckResult(ok=True, skipped=True, detail=f"no {inp.check} configured")
        res = await run_checked(
            self.inventory,
            inp.service,
            host_name,
            cmd.argv,
            timeout_s=cmd.timeout_s,
            max_output_bytes=256 * 1024,
            cwd=cwd,
        )
        text = res.stdout if res.ok else (res.stderr or res.stdout)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        kept = lines[: cmd.head_lines] if cmd.head_lines else lines
        kept = [clip(ln) for ln in kept]
        chars = 0  # and the whole list within MAX_OUTPUT_CHARS
        for i, ln in enumerate(kept):
            chars += len(ln)
            if chars > MAX_OUTPUT_CHARS:
                kept = kept[:i]
                break
        more = f" (first {len(kept)} of {len(lines)} lines)" if len(kept) < len(lines) else ""
        return CheckResult(
            ok=res.ok,
            detail=f"`{shlex.join(cmd.argv)}` exit {res.exit_status}, {len(lines)} lines{more}",
            output=kept,
        )
