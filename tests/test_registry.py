"""The explicit registry: what the bridge can route to is exactly what the worker runs,
and every playbook has tests."""

from __future__ import annotations

from temporalio import workflow

import worker
from workflows.registry import FALLBACK_PLAYBOOK, PLAYBOOKS, ROUTES


def test_routes_point_at_registered_playbooks() -> None:
    assert set(ROUTES.values()) <= set(PLAYBOOKS)
    assert FALLBACK_PLAYBOOK in PLAYBOOKS


def test_registry_names_match_workflow_names() -> None:
    for name, cls in PLAYBOOKS.items():
        defn = workflow._Definition.from_class(cls)
        assert defn is not None and defn.name == name


def test_every_playbook_has_tests() -> None:
    """Each playbook is in tests/workflows/playbook_tests.py's table (and nothing else
    is), each of its modules exists, and each has collected workflow tests that start
    it on the time-skipping server -- not merely a mention of its name somewhere."""
    from tests.workflows.playbook_tests import HERE, PLAYBOOK_TESTS, tests_starting

    assert set(PLAYBOOK_TESTS) == set(PLAYBOOKS), set(PLAYBOOKS) ^ set(PLAYBOOK_TESTS)
    missing: list[str] = []
    for name, modules in PLAYBOOK_TESTS.items():
        assert modules, name
        for module in modules:
            path = HERE / module
            if not path.is_file():
                missing.append(f"{name}: {module} does not exist")
            elif not tests_starting(path.read_text(), name):
                missing.append(f"{name}: no test in {module} starts it")
    assert not missing, missing
    # The check is not vacuous: a module whose tests run on the server but never reach
    # the playbook, or reach it without the server, has none for it.
    idle = (
        'X = "ServiceDown"\n'
        "async def test_a(time_env):\n    await run(time_env, 'Triage')\n"
        "def test_b():\n    assert X\n"
    )
    assert tests_starting(idle, "ServiceDown") == []
    assert tests_starting(idle, "Triage") == ["test_a"]


def test_worker_registers_exactly_the_declared_activities() -> None:
    """Both ways: every activity a contract declares has a method on the worker, every
    method the worker registers is declared, and each method's registered name, input
    and result types are the declared ones (so a workflow's call cannot drift from the
    activity that answers it)."""
    import inspect
    import typing

    from temporalio import activity as ta

    from activities.inventory import Inventory
    from remedy.settings import Settings
    from workflows.contracts import declared_activities

    declared = declared_activities()
    table = worker.implementations(Inventory(), Settings())
    assert {ref.name for ref in table} == set(declared)
    for ref, fn in table.items():
        defn = ta._Definition.from_callable(fn)
        assert defn is not None and defn.name == ref.name, (ref.name, fn)
        hints = typing.get_type_hints(fn)
        params = [p for p in inspect.signature(fn).parameters if p != "self"]
        assert hints[params[0]] is ref.input, (ref.name, hints[params[0]], ref.input)
        assert hints["return"] is ref.result, (ref.name, hints["return"], ref.result)
    assert len(worker.activities_for(Inventory(), Settings())) == len(declared)


def test_worker_refuses_an_undeclared_or_missing_activity(monkeypatch) -> None:
    from activities.inventory import Inventory
    from remedy.settings import Settings
    from workflows.contracts import declared_activities

    real = worker.implementations

    def missing_one(inv: Inventory, s: Settings) -> dict:
        table = dict(real(inv, s))
        table.pop(next(iter(table)))
        return table

    monkeypatch.setattr(worker, "implementations", missing_one)
    try:
        worker.activities_for(Inventory(), Settings())
    except RuntimeError as err:
        assert "declared but not implemented" in str(err)
    else:
        raise AssertionError("a declared activity without a method was accepted")
    assert len(declared_activities()) >= 37  # ssh.run (a generic argv activity) is gone on purpose
