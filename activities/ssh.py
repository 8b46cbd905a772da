"""Run an inventory argv on an inventory host over SSH (paramiko).

Security stance (DESIGN principles 4 and 5):
- The argv comes from the inventory, never from alert labels. SSH exec always goes
  through the remote user's login shell, so every word is `shlex.quote`d: a word like
  `$(reboot)` or `a; b` arrives as one literal argument.
- Host keys are strict: only the host's own `known_hosts_file` is trusted (no system
  file, no agent, no default keys), and an unknown key is rejected, never learned.
  Host key and authentication failures are non-retryable: retrying them is an attack
  surface, not resilience. A `jump_host` is reached the same way and the target is
  then reached through a direct-tcpip channel on it; both keys are checked.
- Commands are checked against the service's whole-argv allowlist before anything is
  sent, and captured output is redacted before it is returned (activities/ssh_policy.py).
  Activities run commands only through `run_checked` (or the keyed runner,
  activities/service.py `run_keyed`, which checks what it wraps); `run_on_host` is the
  unchecked transport under both (tests/security/test_command_allowlist.py holds every
  other module to that). There is no activity that takes an argv from a workflow.

Paramiko is blocking, so the SSH work runs in a thread while the coroutine heartbeats:
Temporal only notices a dead worker through missed heartbeats.
"""

from __future__ import annotations

import asyncio
import select
import shlex
import threading
import time

import paramiko
from temporalio import activity

from activities.errors import app_error
from activities.inventory import HostSpec, Inventory
from activities.ssh_connect import open_session
from activities.ssh_policy import DEFAULT_PATTERNS, check_argv, redact
from workflows.contracts.ssh import CommandResult

HEARTBEAT_EVERY_S = 5.0
# After the exit status arrives, how long to wait for the rest of the output. A daemon
# the command spawned may hold stdout open forever; that must not hang the activity.
_EOF_GRACE_S = 2.0
_CHUNK = 32 * 1024


def remote_command(argv: list[str], *, cwd: str | None = None, shell: bool = False) -> str:
    """The string handed to the remote login shell. Every word is quoted."""
    cmd = f"sh -c {shlex.quote(argv[0])}" if shell else shlex.join(argv)
    # `exec`: the command itself, not the login shell, is the session's process, so the
    # SIGTERM a timeout sends reaches it.
    return f"cd {shlex.quote(cwd)} && exec {cmd}" if cwd else f"exec {cmd}"


def _signal(chan: paramiko.Channel, name: str) -> None:
    """RFC 4254 6.9 "signal" request. Closing the channel alone leaves a non-pty command
    running on the host; OpenSSH >= 7.9 delivers the signal to the session's process
    group, but only for non-root logins. No public paramiko API, hence the private send."""
    m = paramiko.Message()
    m.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
    m.add_int(chan.remote_chanid)
    m.add_string("signal")
    m.add_boolean(False)
    m.add_string(name)
    try:
        chan.transport._send_user_message(m)  # type: ignore[union-attr]
    except (OSError, paramiko.SSHException, EOFError, AttributeError):
        pass


# ---------------------------------------------------------------- blocking run
class _Capped:
    """Keep the first `limit` bytes; drain the rest so the remote side never blocks."""

    def __init__(self, limit: int) -> None:
        self.limit, self.buf, self.truncated = limit, bytearray(), False

    def feed(self, data: bytes) -> None:
        room = self.limit - len(self.buf)
        if len(data) > room:
            self.truncated = True
        self.buf += data[: max(room, 0)]

    def text(self) -> str:
        return self.buf.decode("utf-8", errors="replace")


def _run_blocking(
    host_name: str,
    host: HostSpec,
    argv: list[str],
    command: str,
    timeout_s: float,
    max_output_bytes: int,
    stdin: bytes | None,
    kill_on_timeout: bool,
    cancelled: threading.Event,
) -> CommandResult:
    started = time.monotonic()
    deadline = started + timeout_s
    chan = open_session(host_name, host)
    out, err = _Capped(max_output_bytes), _Capped(max_output_bytes)
    try:
        chan.settimeout(timeout_s)
        chan.exec_command(command)
        if stdin:
            chan.sendall(stdin)
        chan.shutdown_write()  # EOF on the remote stdin: `tee`/`cat` must not wait for more
        fd = chan.fileno()  # becomes readable on stdout or stderr data, EOF or close
        exited_at: float | None = None
        while True:
            while chan.recv_ready():
                out.feed(chan.recv(_CHUNK))
            while chan.recv_stderr_ready():
                err.feed(chan.recv_stderr(_CHUNK))
            now = time.monotonic()
            if chan.exit_status_ready():
                exited_at = exited_at or now
                drained = not chan.recv_ready() and not chan.recv_stderr_ready()
                if drained and (chan.eof_received or now - exited_at > _EOF_GRACE_S):
                    break
            if cancelled.is_set() or now > deadline:
                if kill_on_timeout:
                    _signal(chan, "TERM")
                if cancelled.is_set():
                    raise asyncio.CancelledError()
                raise app_error(
                    "CommandTimeout", f"{host_name}: {argv[0]} exceeded its {timeout_s:g}s timeout"
                )
            if chan.eof_received:
                # The pipe stays readable forever after EOF; wait on the exit status instead.
                chan.status_event.wait(0.2)
            else:
                select.select([fd], [], [], 0.2)
        status = chan.recv_exit_status()
    except (OSError, paramiko.SSHException, EOFError) as e:
        raise app_error("HostUnreachable", f"{host_name}: connection lost: {e}") from None
    finally:
        # Closing the channel is how a timed-out or cancelled command is abandoned.
        chan.close()
    # Redacted here, in the worker: the result is what enters workflow history.
    patterns = host._redact or DEFAULT_PATTERNS
    return CommandResult(
        host=host_name,
        argv=argv,
        exit_status=status,
        stdout=redact(out.text(), patterns),
        stderr=redact(err.text(), patterns),
        truncated=out.truncated or err.truncated,
        duration_s=round(time.monotonic() - started, 3),
    )


async def run_on_host(
    host_name: str,
    host: HostSpec,
    argv: list[str],
    *,
    timeout_s: float,
    max_output_bytes: int,
    cwd: str | None = None,
    shell: bool = False,
    stdin: bytes | None = None,
    kill_on_timeout: bool = True,
) -> CommandResult:
    """Run `argv` on `host`. A non-zero exit is a result, not an exception; failures to
    connect or finish raise ApplicationErrors of the types in activities/errors.py.

    On timeout or cancellation the channel is closed and, if `kill_on_timeout`, the
    remote process group gets SIGTERM (sshd honours that only for non-root logins).
    Keyed runs (activities/service.py) pass False: their detached command must finish."""
    if shell and len(argv) != 1:
        raise ValueError("a shell command is a single string (argv of length 1)")
    command = remote_command(argv, cwd=cwd, shell=shell)
    cancelled = threading.Event()
    task = asyncio.ensure_future(
        asyncio.to_thread(
            _run_blocking,
            host_name,
            host,
            argv,
            command,
            timeout_s,
            max_output_bytes,
            stdin,
            kill_on_timeout,
            cancelled,
        )
    )
    started = time.monotonic()
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY_S)
            if done:
                return task.result()
            if activity.in_activity():
                activity.heartbeat(
                    f"{host_name}: {argv[0]} running {time.monotonic() - started:.0f}s"
                )
    except asyncio.CancelledError:
        # The thread can't be cancelled; tell it to close the channel and give up.
        cancelled.set()
        raise


async def run_checked(
    inventory: Inventory,
    service: str,
    host_name: str,
    argv: list[str],
    *,
    timeout_s: float,
    max_output_bytes: int,
    cwd: str | None = None,
    shell: bool = False,
    stdin: bytes | None = None,
) -> CommandResult:
    """`run_on_host`, for a service: the argv must be on the service's allowlist
    (CommandNotAllowed otherwise, before anything is sent)."""
    check_argv(inventory, service, argv, shell=shell)
    return await run_on_host(
        host_name,
        inventory.host(host_name),
        argv,
        timeout_s=timeout_s,
        max_output_bytes=max_output_bytes,
        cwd=cwd,
        shell=shell,
        stdin=stdin,
    )
