"""Which workflow tests start which playbook: the table tests/test_registry.py checks
against workflows.registry.PLAYBOOKS, both ways, and the static check it uses.

A test *starts* a playbook when it is a collected test function (module-level `test_*`)
that runs on the time-skipping server (takes the `time_env` fixture) and reaches the
playbook -- its workflow name as a string, or its class -- in its own body or
decorators, or through the module-level helpers and constants it uses (transitively):
`run_incident(..., "HighErrorRate")`, a `run()` helper that calls
`run_release(env, w, "DeploymentFailure", ...)`, a parametrize table of rows.
Deleting a playbook's test module, or every such test in it, fails the registry test.
"""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).parent

# playbook -> the workflow test modules (in this directory) that run its branches.
PLAYBOOK_TESTS: dict[str, tuple[str, ...]] = {
    "ServiceDown": ("test_service_down.py",),
    "Rollback": ("test_service_down.py",),
    "Triage": ("test_triage.py",),
    "TestPassRateLow": ("test_test_pass_rate.py", "test_runbook_thresholds.py"),
    "HighErrorRate": ("test_high_error_rate.py", "test_runbook_thresholds.py"),
    "HighLatencyP95": ("test_high_latency.py", "test_runbook_thresholds.py"),
    "AgentLabHighErrorRate": ("test_agentlab_high_error_rate.py",),
    "DeploymentFailure": ("test_deployment_failure.py",),
    "SecurityIncident": ("test_security_incident.py",),
    "ApplicationDown": ("test_application_down.py",),
    "StreamingFailure": ("test_streaming_failure.py",),
    "PerformanceDegradation": ("test_performance_degradation.py",),
    "DataCorruption": ("test_data_corruption.py",),
}

SERVER_FIXTURE = "time_env"


def _mentions(node: ast.AST, name: str) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and n.value == name:
            return True
        if isinstance(n, ast.Name) and n.id == name:
            return True
        if isinstance(n, ast.Attribute) and n.attr == name:
            return True
    return False


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def tests_starting(source: str, playbook: str) -> list[str]:
    """The collected test functions in `source` that start `playbook` (see above)."""
    tree = ast.parse(source)
    defs: dict[str, ast.AST] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defs[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign):
            for t in stmt.targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        defs[n.id] = stmt
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            defs[stmt.target.id] = stmt

    def reaches(start: ast.AST) -> bool:
        seen: set[int] = set()
        todo = [start]
        while todo:
            node = todo.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if _mentions(node, playbook):
                return True
            todo += [defs[n] for n in _names_used(node) if n in defs]
        return False

    found = []
    for stmt in tree.body:
        if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not stmt.name.startswith("test_"):
            continue
        params = {a.arg for a in stmt.args.args + stmt.args.kwonlyargs}
        if SERVER_FIXTURE in params and reaches(stmt):
            found.append(stmt.name)
    return found
