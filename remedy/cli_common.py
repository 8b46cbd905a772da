"""What every `remedy` command module shares: the consoles, the options two commands
take, the bridge token, and one way to fail (a clear line and a non-zero exit, never a
traceback). remedy/cli.py assembles the command modules into one app.

Commands that talk to Temporal leave with os._exit after flushing: short-lived
processes holding a Temporal client can crash at interpreter exit (sdk-python#300).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from activities.inventory import InventoryError
from remedy.settings import Settings

out = Console()
err = Console(stderr=True)
# How a timeline entry's outcome is shown in the terminal (status, demo, rehearse).
OUTCOME_COLORS = {"ok": "green", "failed": "red", "skipped": "yellow", "info": "dim"}
T = TypeVar("T")

DataDir = Annotated[
    Path, typer.Option("--data-dir", help="where the dev server keeps its SQLite file")
]
InventoryOpt = Annotated[Path, typer.Option("--inventory", help="inventory YAML")]


def fail(message: str, code: int = 1) -> None:
    from rich.text import Text

    # Text, not markup: messages carry ids from alert labels and servers' error text,
    # where `[/]` would crash rich and `:name:` would turn into an emoji.
    err.print(Text.assemble(("remedy:", "bold red"), " ", message), highlight=False)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def plain(console: Console, text: str) -> None:
    """Print as is: ids (alert labels) must not turn into markup, emoji or highlights,
    nor be cut or padded to the terminal's width (it may be a file)."""
    console.print(text, markup=False, emoji=False, highlight=False, soft_wrap=True)


def parse_kv(items: list[str], what: str) -> dict[str, str]:
    """`--label k=v` options as a dict; anything else exits 2 naming the option."""
    d: dict[str, str] = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep or not k:
            fail(f"--{what} {it!r}: expected key=value", 2)
        d[k] = v
    return d


def run_client(coro: Callable[[], Awaitable[T]]) -> None:
    """Run a client coroutine, turn known failures into one line, exit hard (see module doc)."""
    from temporalio.client import RPCError, WorkflowUpdateFailedError
    from temporalio.service import RPCError as ServiceRPCError

    code = 0
    try:
        asyncio.run(coro())  # type: ignore[arg-type]
    except KeyboardInterrupt:
        code = 130
    except (RPCError, ServiceRPCError) as e:
        msg = str(e)
        if "not found" in msg.lower():
            fail(f"no such incident: {msg}")
        fail(f"Temporal error: {msg}")
    except RuntimeError as e:
        if "connect" in str(e).lower() or "transport" in str(e).lower():
            fail(
                f"cannot reach Temporal at {Settings().temporal_address}: {e}. "
                "Is `remedy dev` (make run) running?"
            )
        fail(str(e))
    except (InventoryError, ValueError) as e:
        fail(str(e), 2)
    except WorkflowUpdateFailedError as e:  # the workflow's validator said no: say why
        fail(f"refused: {getattr(e.cause, 'message', None) or e}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def token_file(data_dir: Path) -> Path:
    return data_dir / "bridge-token"


def bridge_token(settings: Settings) -> str:
    """REMEDY_BRIDGE_TOKEN, else the one `remedy dev` generated into the data dir."""
    if settings.bridge_token:
        return settings.bridge_token.get_secret_value()
    f = token_file(settings.data_dir)
    if f.exists():
        return f.read_text().strip()
    fail(f"no bridge token: set REMEDY_BRIDGE_TOKEN or start `remedy dev` (writes {f})")
    raise AssertionError  # unreachable
