"""activities/ssh.py against a real OpenSSH server (tests/fixtures/sshd.py)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import ssh, ssh_connect
from activities.inventory import ServiceSpec
from activities.ssh import run_checked, run_on_host
from tests.fixtures.sshd import HOST_NAME, SshServer, free_port
from workflows.contracts.ssh import CommandResult


async def run(server: SshServer, argv: list[str], **kw: Any) -> CommandResult:
    host = server.host_spec(**kw.pop("host", {}))
    kw.setdefault("timeout_s", 10)
    kw.setdefault("max_output_bytes", 64 * 1024)
    return await run_on_host(HOST_NAME, host, argv, **kw)


async def app_error(aw: Awaitable[Any], type_: str) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await aw
    assert info.value.type == type_, info.value
    return info.value


async def test_exit_zero_and_stdout(sshd: SshServer) -> None:
    r = await run(sshd, ["echo", "hello"])
    assert (r.exit_status, r.stdout, r.stderr, r.truncated) == (0, "hello\n", "", False)
    assert r.ok and r.host == HOST_NAME and r.argv == ["echo", "hello"]


async def test_nonzero_exit_is_a_result_with_stderr(sshd: SshServer) -> None:
    r = await run(sshd, ["sh", "-c", "echo out; echo boom >&2; exit 7"])
    assert (r.exit_status, r.stdout, r.stderr) == (7, "out\n", "boom\n")
    assert not r.ok


async def test_output_truncated_but_command_completes(sshd: SshServer) -> None:
    # 200 KiB through a 1 KiB cap: the rest must be drained or the remote side blocks.
    r = await run(
        sshd,
        ["sh", "-c", "head -c 204800 /dev/zero | tr '\\0' a; echo done >&2"],
        max_output_bytes=1024,
    )
    assert r.stdout == "a" * 1024 and r.truncated
    assert r.exit_status == 0 and r.stderr == "done\n"


async def test_invalid_utf8_is_replaced(sshd: SshServer) -> None:
    r = await run(sshd, ["printf", "caf\\351"])
    assert r.stdout == "caf\ufffd"


def _running(pattern: str) -> bool:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0


async def test_command_timeout(sshd: SshServer) -> None:
    started = time.monotonic()
    err = await app_error(run(sshd, ["sleep", "3"], timeout_s=1), "CommandTimeout")
    assert not err.non_retryable
    assert time.monotonic() - started < 3


async def test_command_timeout_terminates_the_remote_command(sshd: SshServer) -> None:
    if sshd.user == "root":
        pytest.skip("OpenSSH refuses session signals to root logins (no privilege separation)")
    await app_error(run(sshd, ["sleep", "987.25"], timeout_s=1), "CommandTimeout")
    # The "host" is this machine: the timed-out command must not linger there.
    for _ in range(50):
        if not _running("sleep 987.25"):
            break
        await asyncio.sleep(0.1)
    assert not _running("sleep 987.25")


async def test_argv_words_arrive_literally(sshd: SshServer, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    words = [
        "two words",
        f"$(touch {canary})",
        f"`touch {canary}`",
        f"a; touch {canary}",
        "it's",
        '"dq"',
        "$HOME",
        "*",
        "x\ny",
        "",
        "-n",
    ]
    r = await run(sshd, ["printf", "[%s]\\n", *words])
    assert r.stdout == "".join(f"[{w}]\n" for w in words)
    assert not canary.exists()


async def test_cwd_with_space_and_shell_mode(sshd: SshServer, tmp_path: Path) -> None:
    d = tmp_path / "dir with space"
    d.mkdir()
    r = await run(sshd, ["pwd"], cwd=str(d))
    assert r.stdout.strip() == str(d)
    # shell=True is the inventory's explicit choice: the one string is interpreted.
    r = await run(sshd, ["echo $((40 + 2)) | tr 4 x; pwd"], shell=True, cwd=str(d))
    assert r.stdout == f"x2\n{d}\n"


async def test_stdin_is_delivered(sshd: SshServer) -> None:
    r = await run(sshd, ["cat"], stdin=b"line one\nline two\n")
    assert r.stdout == "line one\nline two\n"


async def test_unknown_host_key_is_rejected(sshd: SshServer, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    err = await app_error(run(sshd, ["true"], host={"known_hosts_file": empty}), "HostKeyUnknown")
    assert err.non_retryable
    assert empty.read_text() == ""  # never learned


async def test_missing_known_hosts_file_is_unknown(sshd: SshServer, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    await app_error(run(sshd, ["true"], host={"known_hosts_file": missing}), "HostKeyUnknown")


async def test_changed_host_key_is_rejected(sshd: SshServer, tmp_path: Path) -> None:
    other = tmp_path / "known_hosts"
    other.write_text(sshd.known_hosts_line(sshd.other_host_key_pub))
    err = await app_error(run(sshd, ["true"], host={"known_hosts_file": other}), "HostKeyChanged")
    assert err.non_retryable


async def test_unreachable_host_is_retryable(sshd: SshServer) -> None:
    err = await app_error(run(sshd, ["true"], host={"port": free_port()}), "HostUnreachable")
    assert not err.non_retryable


async def test_refused_key_is_authentication_failed(sshd: SshServer) -> None:
    err = await app_error(
        run(sshd, ["true"], host={"private_key_file": sshd.other_client_key}),
        "AuthenticationFailed",
    )
    assert err.non_retryable


async def test_connection_is_reused_and_reconnected_when_dead(sshd: SshServer) -> None:
    host = sshd.host_spec()
    await run(sshd, ["true"])
    client = ssh_connect.cache.get(HOST_NAME, host)
    await run(sshd, ["true"])
    assert ssh_connect.cache.get(HOST_NAME, host) is client
    # Kill the transport under the cache: the next command reconnects transparently.
    transport = client.get_transport()
    assert transport is not None
    transport.close()
    r = await run(sshd, ["echo", "again"])
    assert r.stdout == "again\n"
    assert ssh_connect.cache.get(HOST_NAME, host) is not client


async def test_checked_run_heartbeats_in_an_activity(
    sshd: SshServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssh, "HEARTBEAT_EVERY_S", 0.1)
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *d: beats.append(d)
    # An interpreter runs only as an argv the inventory spells out exactly.
    argv = ["sh", "-c", "sleep 0.5; echo ok"]
    inv = sshd.inventory({"svc": ServiceSpec(hosts=[HOST_NAME], allowed_commands=[argv])})

    async def activity_body() -> CommandResult:
        return await run_checked(inv, "svc", HOST_NAME, argv, timeout_s=10, max_output_bytes=1024)

    r = await env.run(activity_body)
    assert r.stdout == "ok\n"
    assert beats, "no heartbeat while the command ran"


async def test_checked_run_unknown_service(sshd: SshServer) -> None:
    inv = sshd.inventory()
    await app_error(
        run_checked(inv, "nope", HOST_NAME, ["true"], timeout_s=5, max_output_bytes=1024),
        "UnknownService",
    )
