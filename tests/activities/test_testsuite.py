"""The pytest-summary parser and failure categorizer on real pytest output (a tiny
suite with passing, failing, erroring, xfail, xpass and skipped tests, run in a
subprocess), and the test-suite activity run over the real test sshd."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.inventory import CommandSpec, ServiceSpec
from activities.ssh_policy import check_argv
from activities.testsuite import TestSuiteActivities, categorize, failure_kinds, parse_pytest
from tests.fixtures.sshd import HOST_NAME, SshServer
from workflows.contracts.service import CommandKind
from workflows.contracts.testsuite import CheckInput, TestingPolicy, TestRunInput

PY = sys.executable
FLAKY = "tests/test_performance.py::test_halo_routing_performance_large_dag"
INFRA = """\
import pytest

def test_ok():
    pass

def test_bad():
    assert 1 == 2

@pytest.fixture
def db():
    {fixture}

def test_err(db):
    pass

@pytest.mark.xfail
def test_xf():
    assert False

@pytest.mark.xfail
def test_xp():
    pass

@pytest.mark.skip
def test_sk():
    pass
"""
PERF = """\
def test_halo_routing_performance_large_dag():
    assert False, "too slow under load"

def test_fast():
    pass
"""


def make_suite(root: Path, broken_fixture: bool = True) -> Path:
    (root / "tests").mkdir(parents=True, exist_ok=True)
    body = "raise RuntimeError('db down')" if broken_fixture else "return 1"
    (root / "tests" / "test_htdag_planner.py").write_text(INFRA.format(fixture=body))
    (root / "tests" / "test_performance.py").write_text(PERF)
    return root


def pytest_output(root: Path, *args: str) -> str:
    out = subprocess.run(
        [PY, "-m", "pytest", "tests/", "-p", "no:cacheprovider", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1, out.stdout[-2000:]
    return out.stdout


@pytest.mark.parametrize("args", [("-v", "--tb=short"), ("-q",), ("-rA", "--tb=no")])
def test_parser_on_real_pytest_output(tmp_path: Path, args: tuple[str, ...]) -> None:
    s = parse_pytest(pytest_output(make_suite(tmp_path), *args))
    assert s.counts == {
        "failed": 2,
        "passed": 2,
        "skipped": 1,
        "xfailed": 1,
        "xpassed": 1,
        "errors": 1,
    }
    assert sorted(s.failing) == sorted(
        ["tests/test_htdag_planner.py::test_bad", "tests/test_htdag_planner.py::test_err", FLAKY]
    )
    assert s.pass_rate == pytest.approx(2 / 5)  # xfail/xpass/skip are not in the rate
    assert "2 failed" in s.summary


KINDS = """\
def test_import():
    import no_such_module_xyz  # noqa: F401

def test_conn():
    raise ConnectionRefusedError(111, "Connection refused")

def test_slow():
    raise TimeoutError("timed out")
"""


@pytest.mark.parametrize("args", [("-v", "--tb=short"), ("-q",), ("-v", "--tb=long")])
def test_failure_kinds_from_real_tracebacks(tmp_path: Path, args: tuple[str, ...]) -> None:
    root = make_suite(tmp_path)
    (root / "tests" / "test_kinds.py").write_text(KINDS)
    s = parse_pytest(pytest_output(root, *args))
    # One exception line per failure or error (the db fixture's error included).
    assert len(s.exceptions) == len(s.failing) == 6
    assert failure_kinds(s.exceptions, TestingPolicy().failure_patterns) == {
        "assertion failure": 2,  # `assert 1 == 2`, AssertionError: too slow under load
        "import error": 1,
        "connection error": 1,
        "timeout": 1,
        "other": 1,  # RuntimeError: db down
    }


def test_failure_kinds_need_tracebacks(tmp_path: Path) -> None:
    # --tb=no prints no tracebacks: no kinds (unknown), never a guess from the ids.
    s = parse_pytest(pytest_output(make_suite(tmp_path), "-rA", "--tb=no"))
    assert s.exceptions == [] and len(s.failing) == 3


def test_a_bad_failure_pattern_is_refused_at_load() -> None:
    with pytest.raises(ValueError, match=r"failure_patterns.timeout: invalid regex"):
        TestingPolicy.model_validate({"failure_patterns": {"timeout": ["(unclosed"]}})


def test_categories_file_first_then_id() -> None:
    cats = TestingPolicy().categories
    got = categorize(
        [
            "tests/test_htdag_planner.py::test_bad",
            FLAKY,  # test_halo... in a performance file: performance, not infrastructure
            "tests/test_misc.py::test_darwin_evolves",  # no file match: matched on the id
            "tests/test_other.py::test_x",
        ],
        cats,
    )
    assert got == {
        "infrastructure": ["tests/test_htdag_planner.py::test_bad"],
        "performance": [FLAKY],
        "agent": ["tests/test_misc.py::test_darwin_evolves"],
        "other": ["tests/test_other.py::test_x"],
    }


def suite_service(root: Path, **testing: object) -> ServiceSpec:
    pytest_argv = [PY, "-m", "pytest", "-p", "no:cacheprovider"]
    return ServiceSpec(
        hosts=[HOST_NAME],
        commands={
            CommandKind.TEST_SUITE: CommandSpec(
                argv=[*pytest_argv, "tests/", "-v", "--tb=short"], cwd=str(root), timeout_s=120
            )
        },
        testing=TestingPolicy.model_validate({"isolate_argv": [*pytest_argv, "-v"]} | testing),
    )


async def test_activity_runs_suite_over_ssh_and_compares_baseline(
    sshd: SshServer, tmp_path: Path
) -> None:
    root = make_suite(tmp_path, broken_fixture=False)
    (root / "logs").mkdir()
    (root / "logs" / "deployment_baseline_tests.log").write_text(
        pytest_output(root, "-v", "--tb=short")
    )
    make_suite(root, broken_fixture=True)  # the "deployment" breaks the db fixture
    acts = TestSuiteActivities(sshd.inventory({"genesis": suite_service(root)}))
    res = await acts.run(TestRunInput(service="genesis", incident_id="inc-1"))
    assert (res.passed, res.failed, res.errors, res.xfailed) == (2, 2, 1, 1)
    assert res.pass_rate == pytest.approx(0.4) and res.failing_total == 3
    assert res.categories == {"infrastructure": 2, "performance": 1}
    assert res.new_failures == ["tests/test_htdag_planner.py::test_err"]  # not in baseline
    # Common patterns, read on the host's output: the kinds of the three failures, and
    # the P4 performance test among the non-critical ones (xfail asked of people).
    assert res.patterns == {"assertion failure": 2, "other": 1}
    assert res.non_critical_failing == [FLAKY]
    # The runbook's `| tee logs/incident_test_run.log`: the whole log stays on the host.
    log = root / "logs" / "incident_test_run.log"
    assert "short test summary info" in log.read_text()
    # Verification re-runs the suite into its own log: the incident's stays as it was.
    make_suite(root, broken_fixture=False)
    before = log.read_text()
    again = await acts.run(TestRunInput(service="genesis", incident_id="i", verification=True))
    assert (again.errors, again.new_failures) == (0, None) and log.read_text() == before
    assert again.log_path.endswith("logs/incident_test_run.log.verify")


async def test_activity_isolated_run_and_no_baseline(sshd: SshServer, tmp_path: Path) -> None:
    root = make_suite(tmp_path)
    fast = "tests/test_performance.py::test_fast"
    svc = suite_service(root, known_intermittent=[fast])
    acts = TestSuiteActivities(sshd.inventory({"genesis": svc}))
    res = await acts.run(TestRunInput(service="genesis", incident_id="i", node_ids=[fast]))
    assert (res.passed, res.failed, res.pass_rate) == (1, 0, 1.0)
    # Isolation runs only the inventory's known intermittent tests (the workflow asks
    # for nothing else): any other node id is refused before anything is sent.
    with pytest.raises(ApplicationError) as info:
        other = "tests/test_performance.py::test_other"
        await acts.run(TestRunInput(service="genesis", incident_id="i", node_ids=[other]))
    assert info.value.type == "CommandNotAllowed"
    full = await acts.run(TestRunInput(service="genesis", incident_id="i"))
    assert full.new_failures is None  # no baseline log on the host: unknown, not "none"
    with pytest.raises(Exception, match="not pytest node ids"):
        await acts.run(TestRunInput(service="genesis", incident_id="i", node_ids=["--co"]))


async def test_import_and_dependency_checks(sshd: SshServer, tmp_path: Path) -> None:
    svc = suite_service(
        make_suite(tmp_path),
        import_check=[PY, "-c", "import infrastructure_that_is_missing"],
        dependency_list=[PY, "-m", "pip", "list"],
        required_packages=["pytest", "no-such-package-xyz"],
    )
    acts = TestSuiteActivities(sshd.inventory({"genesis": svc}))
    imports = await acts.check(CheckInput(service="genesis", check="imports"))
    assert not imports.ok and "ModuleNotFoundError" in imports.detail
    deps = await acts.check(CheckInput(service="genesis", check="dependencies"))
    assert not deps.ok and deps.detail == "missing: no-such-package-xyz"


HEALTH = """#!/bin/sh
echo "checking environment"
echo "database: OK"
echo "disk: 91% used" >&2
exit 1
"""


def git(root: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a"}
    env |= {"GIT_COMMITTER_EMAIL": "a@x", "HOME": str(root), "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


async def test_health_check_and_recent_changes_over_ssh(sshd: SshServer, tmp_path: Path) -> None:
    root = make_suite(tmp_path)
    (root / "scripts").mkdir()
    (root / "scripts" / "health_check.sh").write_text(HEALTH)
    (root / "scripts" / "health_check.sh").chmod(0o755)
    (root / "infrastructure").mkdir()
    git(root, "init", "-q")
    (root / "README").write_text("x")
    git(root, "add", "README")
    git(root, "commit", "-q", "-m", "docs: outside infrastructure/")
    (root / "infrastructure" / "htdag_planner.py").write_text("x = 1")
    git(root, "add", "infrastructure")
    git(root, "commit", "-q", "-m", "htdag: new planner")
    acts = TestSuiteActivities(sshd.inventory({"genesis": suite_service(root)}))
    # The runbook's `./scripts/health_check.sh`, in the suite's directory: its exit
    # status and (failing) its stderr come back.
    health = await acts.check(CheckInput(service="genesis", check="health_check"))
    assert not health.ok and health.output == ["disk: 91% used"]
    assert "exit 1" in health.detail
    # `git log --oneline --since="24 hours ago" infrastructure/`: only that directory.
    changes = await acts.check(CheckInput(service="genesis", check="recent_changes"))
    assert changes.ok and len(changes.output) == 1
    assert changes.output[0].endswith(" htdag: new planner")


async def test_read_only_checks_configured_per_service(sshd: SshServer, tmp_path: Path) -> None:
    root = make_suite(tmp_path)
    svc = suite_service(
        root,
        health_check={"argv": ["printf", "a\\nb\\nc\\n"], "head_lines": 2},
        recent_changes=None,
    )
    acts = TestSuiteActivities(sshd.inventory({"genesis": svc}))
    health = await acts.check(CheckInput(service="genesis", check="health_check"))
    assert health.ok and health.output == ["a", "b"] and "first 2 of 3 lines" in health.detail
    skipped = await acts.check(CheckInput(service="genesis", check="recent_changes"))
    assert skipped.skipped and skipped.output == []
    # The allowlist is what the inventory writes: configured elsewhere, the default
    # script is no longer admitted for this service.
    check_argv(acts.inventory, "genesis", ["printf", "a\\nb\\nc\\n"])
    with pytest.raises(ApplicationError) as info:
        check_argv(acts.inventory, "genesis", ["./scripts/health_check.sh"])
    assert info.value.type == "CommandNotAllowed"
