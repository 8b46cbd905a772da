"""The explicit registry: what the bridge can route to is exactly what the worker runs,
and every playbook has tests."""

from __future__ import annotations

from pathlib import Path

from temporalio import workflow

import worker
from workflows.registry import FALLBACK_PLAYBOOK, PLAYBOOKS, ROUTES

TESTS = Path(__file__).parent


def test_routes_point_at_registered_playbooks() -> None:
    assert set(ROUTES.values()) <= set(PLAYBOOKS)
    assert FALLBACK_PLAYBOOK in PLAYBOOKS


def test_registry_names_match_workflow_names() -> None:
    for name, cls in PLAYBOOKS.items():
        defn = workflow._Definition.from_class(cls)
        assert defn is not None and defn.name == name


def test_every_playbook_has_tests() -> None:
    text = "\n".join(p.read_text() for p in TESTS.rglob("test_*.py"))
    for name in PLAYBOOKS:
        # A workflow test starts or asserts on the playbook by name or class.
        assert f'"{name}"' in text or f"{name}.run" in text or f"{name}(" in text, name


def test_worker_registers_every_playbook_and_activity() -> None:
    from activities.inventory import Inventory
    from remedy.settings import Settings
    from workflows import contracts

    acts = worker.activities_for(Inventory(), Settings())
    names = {fn.__temporal_activity_definition.name for fn in acts}  # type: ignore[attr-defined]
    declared = {
        v for k, v in vars(contracts).items() if k.isupper() and isinstance(v, str) and "." in v
    }
    assert declared <= names, declared - names
