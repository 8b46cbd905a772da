"""Reading an inventory file: YAML in, a validated `Inventory` out, or an
`InventoryError` that names every problem as `file: yaml.path: problem`.

Validated strictly: unknown keys are errors, so a typo never silently falls back to a
default.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from activities.inventory.model import Inventory
from workflows.errors import ConfigurationError


class InventoryError(ValueError, ConfigurationError):
    """The inventory file is unreadable or invalid. The message lists every problem as
    `file: yaml.path: problem`."""


def _yaml_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<top level>"


def _problem(path: Path, loc: tuple[int | str, ...], msg: str) -> str:
    # Our own validators raise ValueError with the YAML path in the text; pydantic wraps
    # them as "Value error, ...", which only gets in the way of the reader.
    msg = msg.removeprefix("Value error, ")
    if not loc:
        return f"{path}: {msg}"
    return f"{path}: {_yaml_path(loc)}: {msg}"


def load_inventory(path: str | Path) -> Inventory:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise InventoryError(f"{path}: cannot read inventory: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InventoryError(f"{path}: {where}invalid YAML: {getattr(e, 'problem', e)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: <top level>: expected a mapping, got {type(data).__name__}")
    try:
        inv = Inventory.model_validate(data)
    except ValidationError as e:
        problems = [_problem(path, err["loc"], err["msg"]) for err in e.errors()]
        raise InventoryError("invalid inventory:\n  " + "\n  ".join(problems)) from None
    inv.source = str(path)
    return inv
