"""What every contract module shares: the strict base for inventory sections, and
`Activity`, the one declaration of an activity a workflow may call.

Workflows call activities *by name* so that no workflow module ever imports an activity
module -- and with it paramiko or httpx, which the workflow sandbox rejects. Each
contract module declares its activities once, name, input, result and retry policy
together, so a call reads `await inc.act("restart", service.RESTART, RestartInput(...))`
and cannot pair an input with the wrong result type or policy. The worker registers
exactly the declared set (worker.py; tests/test_registry.py checks both ways).

Nothing in a contract may carry a secret: every field ends up in workflow history.
Hosts, services and commands are *names* resolved by the activity from the worker-side
inventory (DESIGN principles 4 and 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from workflows.policies import ActivityPolicy


class Strict(BaseModel):
    """Inventory sections: an unknown key is a typo, refused at load with its YAML path."""

    model_config = ConfigDict(extra="forbid")


I = TypeVar("I", bound=BaseModel)  # noqa: E741
R = TypeVar("R", bound=BaseModel)

# Every Activity created in this process, by name: a name declared twice is refused at
# import. What the worker must register is `declared_activities()` (contracts/__init__).
DECLARED: dict[str, Activity] = {}  # type: ignore[type-arg]


@dataclass(frozen=True, eq=False)  # hashed by identity: one object per activity
class Activity(Generic[I, R]):
    """One activity as workflows see it: its registered name, its input and result
    models, and the retry policy every call uses (workflows/policies.py)."""

    name: str
    input: type[I]
    result: type[R]
    policy: ActivityPolicy

    def __post_init__(self) -> None:
        if self.name in DECLARED:
            raise ValueError(f"activity {self.name!r} declared twice")
        DECLARED[self.name] = self
