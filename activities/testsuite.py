"""TestPassRateLow's diagnosis: run the service's test suite over SSH and read pytest.

The runbook's `pytest tests/ -v --tb=short | tee logs/incident_test_run.log`, then
`grep FAILED`. The full log stays on the host (`testing.run_log`); only the lines that
matter come back (failure ids and the final counts line, filtered by grep on the host),
and the result carries counts and bounded id lists -- a suite's whole output never
enters workflow history.

Pass rate = passed / (passed + failed + errors): xfail/xpass/skip are the suite's own
declared expectations, not passes or failures of the code under test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from temporalio import activity

from activities.errors import app_error
from activities.inventory import CommandSpec, Inventory, ServiceSpec
from activities.scripts import RUN_SCRIPT
from activities.service import resolve_command, resolve_host
from activities.ssh import run_checked
from activities.ssh_policy import check_service_command
from workflows.contracts.diagnostics import MAX_IDS
from workflows.contracts.service import CommandKind
from workflows.contracts.testsuite import (
    TESTSUITE_CHECK,
    TESTSUITE_RUN,
    CheckInput,
    CheckResult,
    TestRunInput,
    TestRunResult,
)

# pytest's lines worth bringing back: short-summary and -v result lines for failures,
# and the final "N failed, M passed ... in 1.23s" line.
_KEEP = r"^(FAILED|ERROR) |::[^ ]* (FAILED|ERROR)|[0-9]+ (passed|failed|errors?)| in [0-9.]+s"
BASELINE_MARK = "@@remedy-baseline@@"
_NODE_ID = re.compile(r"^[\w./-]+\.py(::[\w\[\]./:=,+-]+)*$")
_FAIL_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+)|^(\S+::\S+) (?:FAILED|ERROR)\b")
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b")
_FINAL = re.compile(r" in [\d.]+s\b")
_OUTPUT_CAP = 1024 * 1024  # filtered lines only; parsed here, never stored whole


@dataclass
class PytestSummary:
    counts: dict[str, int] = field(default_factory=dict)
    failing: list[str] = field(default_factory=list)  # ordered, unique
    summary: str = ""

    @property
    def pass_rate(self) -> float | None:
        passed = self.counts.get("passed", 0)
        total = passed + self.counts.get("failed", 0) + self.counts.get("errors", 0)
        return passed / total if total else None


def parse_pytest(text: str) -> PytestSummary:
    """Read pytest's terminal output (any verbosity): failing ids and the final counts."""
    out = PytestSummary()
    seen: set[str] = set()
    for line in text.splitlines():
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


def to_result(
    exit_status: int, text: str, categories: dict[str, list[str]], log_path: str
) -> TestRunResult:
    current, _, baseline_text = text.partition(BASELINE_MARK)
    run = parse_pytest(current)
    new: list[str] | None = None
    if BASELINE_MARK in text:
        before = set(parse_pytest(baseline_text).failing)
        new = [n for n in run.failing if n not in before][:MAX_IDS]
    c = run.counts
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
        categories={k: len(v) for k, v in categorize(run.failing, categories).items()},
        new_failures=new,
        summary=run.summary or f"no pytest summary (exit {exit_status})",
        log_path=log_path,
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
        return to_result(res.exit_status, res.stdout, t.categories, f"{host_name}:{log}")

    @activity.defn(name=TESTSUITE_CHECK.name)
    async def check(self, inp: CheckInput) -> CheckResult:
        """Scenario A: `python3 -c "from infrastructure import ..."` and
        `pip list | grep -E "opentelemetry|pytest|prometheus"`."""
        svc, host_name, suite = self._suite(inp.service)
        t = svc.testing
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
