"""The error tree (workflows/errors.py) and app_error (activities/errors.py).

The type strings are recorded in workflow histories: OLD_TABLE below is the flat table
the tree replaced, written out literally. It is the compatibility contract: never edit
it to make a test pass.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from activities import errors as act_errors
from activities.errors import app_error
from workflows import errors
from workflows.errors import (
    ERROR_TYPES,
    LEAVES,
    ConfigurationError,
    Failed,
    Refused,
    RemedyError,
    UnknownError,
    Unreachable,
    by_type,
)

ROOT = Path(__file__).resolve().parents[1]

# type name -> retryable, exactly as activities/errors.py had it before the tree.
OLD_TABLE: dict[str, bool] = {
    "HostKeyUnknown": False,
    "HostKeyChanged": False,
    "AuthenticationFailed": False,
    "HostUnreachable": True,
    "CommandTimeout": True,
    "UnknownService": False,
    "UnknownHost": False,
    "CommandNotConfigured": False,
    "CommandNotAllowed": False,
    "IdempotencyUnknown": False,
    "IdempotencyKeyRequired": False,
    "NotifyRejected": False,
    "NotifyUnavailable": True,
    "ProbeNotConfigured": False,
    "MitigationFailed": False,
    "GovernorRefused": False,
    "VisibilityUnavailable": True,
    "LogUnreadable": False,
    "SnapshotFailed": False,
    "DataFileOpFailed": False,
    "CommandFailed": False,
    "ProbeTargetRefused": False,
    "CiUnavailable": True,
    "CiRejected": False,
}

BRANCH_RETRYABLE = {ConfigurationError: False, Unreachable: True, Refused: False, Failed: False}


# ---------------------------------------------------------------- the tree
def test_error_types_keep_the_old_table() -> None:
    # The compatibility contract: every old type string stays, with its retryability
    # (recorded histories and running workflows carry them); new leaves may be added.
    assert OLD_TABLE.items() <= ERROR_TYPES.items()
    assert act_errors.ERROR_TYPES is ERROR_TYPES  # the old import path still works


@pytest.mark.parametrize("name", sorted(OLD_TABLE))
def test_every_old_type_is_a_leaf_with_its_retryability(name: str) -> None:
    cls = by_type(name)
    assert cls.__name__ == name
    assert cls is getattr(errors, name)
    assert cls.retryable is OLD_TABLE[name]
    assert cls in LEAVES


def test_leaves_are_distinct_and_sit_under_exactly_one_branch() -> None:
    assert len({c.__name__ for c in LEAVES}) == len(LEAVES)
    for cls in LEAVES:
        branches = [b for b in BRANCH_RETRYABLE if issubclass(cls, b)]
        assert len(branches) == 1, (cls, branches)
        mine = [s for s in cls.__subclasses__() if s.__module__ == errors.__name__]
        assert not mine, f"{cls.__name__} is a leaf"


def test_retryability_per_branch() -> None:
    assert errors.BRANCHES == tuple(BRANCH_RETRYABLE)
    for branch, retryable in BRANCH_RETRYABLE.items():
        assert issubclass(branch, RemedyError) and issubclass(branch, Exception)
        assert branch.retryable is retryable
        for cls in LEAVES:
            if issubclass(cls, branch):
                assert cls.retryable is retryable, cls  # no leaf overrides its branch


def test_only_unreachable_is_retried() -> None:
    retried = {name for name, r in OLD_TABLE.items() if r}
    assert retried == {c.__name__ for c in LEAVES if issubclass(c, Unreachable)}


def test_placement() -> None:
    assert issubclass(by_type("UnknownService"), ConfigurationError)
    assert issubclass(by_type("IdempotencyKeyRequired"), ConfigurationError)
    assert issubclass(by_type("HostUnreachable"), Unreachable)
    assert issubclass(by_type("HostKeyChanged"), Refused)
    assert issubclass(by_type("GovernorRefused"), Refused)
    assert issubclass(by_type("CiRejected"), Refused)
    assert issubclass(by_type("MitigationFailed"), Failed)
    assert issubclass(by_type("IdempotencyUnknown"), Failed)


def test_every_class_has_a_docstring() -> None:
    for cls in (RemedyError, *errors.BRANCHES, *LEAVES, UnknownError):
        assert cls.__doc__ and cls.__doc__.strip(), cls


# ---------------------------------------------------------------- by_type
@pytest.mark.parametrize(
    "type_str",
    [None, "", "NoSuchType", "TimeoutError", "KeyError", "Failed", "RemedyError", "unknownservice"],
)
def test_by_type_falls_back_to_unknown_error(type_str: str | None) -> None:
    cls = by_type(type_str)
    assert cls is UnknownError
    assert issubclass(cls, Failed) and not cls.retryable


def test_unknown_error_is_not_raisable_nor_in_the_table() -> None:
    assert "UnknownError" not in ERROR_TYPES
    with pytest.raises(KeyError):
        app_error(UnknownError, "x")


# ---------------------------------------------------------------- app_error
@pytest.mark.parametrize("name", sorted(OLD_TABLE))
def test_app_error_with_a_string_and_with_a_class(name: str) -> None:
    by_str = app_error(name, "boom", {"k": 1})
    by_cls = app_error(getattr(errors, name), "boom", {"k": 1})
    for err in (by_str, by_cls):
        assert err.type == name
        assert err.message == "boom"
        assert err.non_retryable is (not OLD_TABLE[name])
        assert err.details == ({"k": 1},)


@pytest.mark.parametrize(
    "bad", ["NoSuchType", "Refused", "RemedyError", "UnknownError", Failed, RemedyError]
)
def test_app_error_rejects_what_is_not_a_leaf(bad: str | type[RemedyError]) -> None:
    with pytest.raises(KeyError, match="undocumented error type"):
        app_error(bad, "x")


def test_app_error_rejects_a_subclass_that_is_not_a_leaf() -> None:
    class HostUnreachableLocal(errors.HostUnreachable):
        """Not a leaf: its name is not a type string."""

    with pytest.raises(KeyError):
        app_error(HostUnreachableLocal, "x")

    class CommandTimeout(errors.CommandTimeout):  # same name, different class
        """A shadowing class is not the leaf."""

    with pytest.raises(KeyError):
        app_error(CommandTimeout, "x")


# ---------------------------------------------------------------- the code base
def _activity_files() -> list[Path]:
    """Every module under activities/ and workflows/ but the two errors.py themselves
    (a workflow raises a leaf too: Rollback's RollbackNotAllowed)."""
    skip = {ROOT / "activities" / "errors.py", ROOT / "workflows" / "errors.py"}
    files = [*(ROOT / "activities").rglob("*.py"), *(ROOT / "workflows").rglob("*.py")]
    return [p for p in sorted(files) if p not in skip]


def _literal_types() -> dict[str, set[str]]:
    """Every error type string the activities use: first argument of app_error(...),
    `type=` of ApplicationError(...), and the strings app_error receives through the
    ssh_connect classification table. file -> types."""
    found: dict[str, set[str]] = {}
    for path in _activity_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        types: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "app_error":
                    arg = node.args[0]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        types.add(arg.value)
                    elif isinstance(arg, ast.Attribute):  # app_error(errors.Leaf, ...)
                        types.add(arg.attr)
                    elif isinstance(arg, ast.Name) and arg.id[0].isupper():
                        types.add(arg.id)
                    else:  # a variable: only the ssh_connect table, read below
                        assert path.name == "ssh_connect.py", (path, ast.dump(arg))
                elif node.func.id == "ApplicationError":
                    for kw in node.keywords:
                        if kw.arg == "type":
                            value = ast.literal_eval(kw.value)
                            assert isinstance(value, str), path
                            types.add(value)
            if isinstance(node, ast.AnnAssign | ast.Assign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "_CONNECT_ERRORS" for t in targets):
                    assert node.value is not None
                    for elt in ast.walk(node.value):
                        if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
                            types.add(elt.value)
        if types:
            found[str(path.relative_to(ROOT))] = types
    return found


def test_every_type_used_by_an_activity_is_a_leaf() -> None:
    used = _literal_types()
    assert "HostKeyChanged" in used["activities/ssh_connect.py"]
    for file, types in used.items():
        for name in types:
            assert name in ERROR_TYPES, f"{file}: {name!r} is not a leaf of workflows/errors.py"
    # The tree has no dead leaves either: every leaf is raised somewhere.
    assert set().union(*used.values()) == set(ERROR_TYPES)


def test_direct_application_errors_match_the_tree() -> None:
    """ApplicationError(type=..., non_retryable=<literal>) bypasses app_error: its
    literal retryability must still be the leaf's."""
    for path in _activity_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "ApplicationError"
            ):
                continue
            kws = {kw.arg: kw.value for kw in node.keywords}
            if "type" not in kws:
                continue
            name = ast.literal_eval(kws["type"])
            nr = kws.get("non_retryable")
            if isinstance(nr, ast.Constant):
                assert nr.value is (not ERROR_TYPES[name]), f"{path.name}: {name}"


def test_workflows_errors_is_pure() -> None:
    """No import at all beyond typing: safe in the workflow sandbox."""
    tree = ast.parse((ROOT / "workflows" / "errors.py").read_text())
    imported = {
        (n.module if isinstance(n, ast.ImportFrom) else a.name)
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert imported <= {"__future__", "typing"}, imported


# ---------------------------------------------------------------- other exceptions
def test_existing_exceptions_join_the_tree_without_changing_behaviour() -> None:
    from activities.inventory import InventoryError
    from activities.ssh_connect import _UnknownHostKey
    from bridge.app import BridgeConfigError
    from remedy.codec import CodecKeyError

    for cls in (InventoryError, BridgeConfigError, CodecKeyError):
        assert issubclass(cls, ValueError) and issubclass(cls, ConfigurationError)
        assert cls.__name__ not in ERROR_TYPES and by_type(cls.__name__) is UnknownError
        assert str(cls("why")) == "why"

    import paramiko

    assert issubclass(_UnknownHostKey, paramiko.SSHException)
    assert issubclass(_UnknownHostKey, errors.HostKeyUnknown)
    assert not issubclass(_UnknownHostKey, paramiko.BadHostKeyException)
    # Not a leaf: activities still raise it as app_error("HostKeyUnknown").
    with pytest.raises(KeyError):
        app_error(_UnknownHostKey, "x")
