"""activities/service.py over a real sshd, against a real supervisord and real git."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.inventory import CommandSpec, HostSpec, Inventory, RollbackSpec, ServiceSpec
from activities.service import ServiceActivities, key_hash, run_keyed
from tests.fixtures.gitrepo import commit, git
from tests.fixtures.sshd import HOST_NAME, SshServer, Supervisor
from workflows.contracts.service import CommandKind, ServiceCommandInput
from workflows.contracts.ssh import CommandResult


def keyed(host: HostSpec, spec: CommandSpec, *, key: str) -> Awaitable[tuple[CommandResult, bool]]:
    """run_keyed for a service whose allowlist is exactly `spec` (the keyed script is
    Remedy's own and admitted byte-exact; the command it wraps must be allowed)."""
    entry: Any = {"shell": spec.argv[0]} if spec.shell else spec.argv
    svc = ServiceSpec(hosts=[HOST_NAME], allowed_commands=[entry])
    inv = Inventory(hosts={HOST_NAME: host}, services={"t": svc})
    return run_keyed(inv, "t", HOST_NAME, spec, key=key)


def key() -> str:
    return f"incident-{uuid.uuid4()}/restart"


async def app_error(aw: Awaitable[Any], type_: str) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await aw
    assert info.value.type == type_, info.value
    return info.value


@pytest.fixture
def acts(sshd: SshServer, supervisor: Supervisor, tmp_path: Path) -> ServiceActivities:
    log = tmp_path / "demo.log"
    log.write_text("".join(f"line {i}\n" for i in range(150)))
    services = {
        "demo": supervisor.service_spec(log_files=[str(log)]),
        "bare": ServiceSpec(hosts=[HOST_NAME]),
    }
    return ServiceActivities(sshd.inventory(services))


def inp(command: CommandKind, idempotency_key: str | None = None, **kw: Any) -> ServiceCommandInput:
    return ServiceCommandInput(
        service="demo", command=command, idempotency_key=idempotency_key, **kw
    )


async def test_status(acts: ServiceActivities) -> None:
    r = await acts.run(inp(CommandKind.STATUS))
    assert r.result.ok and "RUNNING" in r.result.stdout
    assert r.service == "demo" and r.command == CommandKind.STATUS and not r.replayed


async def test_restart_changes_pid(acts: ServiceActivities, supervisor: Supervisor) -> None:
    before = supervisor.pid()
    r = await acts.run(inp(CommandKind.RESTART))
    assert r.result.ok, r.result
    assert supervisor.pid() not in (0, before)


async def test_keyed_restart_runs_once_per_key(
    acts: ServiceActivities, supervisor: Supervisor
) -> None:
    k = key()
    p0 = supervisor.pid()
    first = await acts.restart(inp(CommandKind.RESTART, k))
    p1 = supervisor.pid()
    assert first.result.ok and not first.replayed and p1 not in (0, p0)
    # The retry of the same step: no second restart, the recorded result comes back.
    again = await acts.restart(inp(CommandKind.RESTART, k))
    assert again.replayed and supervisor.pid() == p1
    assert again.result.stdout == first.result.stdout and again.result.exit_status == 0
    assert again.result.argv == first.result.argv == supervisor.argv("restart", "demo")
    # Another step (another key) restarts again.
    other = await acts.restart(inp(CommandKind.RESTART, key()))
    assert not other.replayed and supervisor.pid() not in (0, p1)


async def test_keyed_marker_records_key_for_humans(
    acts: ServiceActivities, sshd: SshServer
) -> None:
    k = key()
    await acts.run(inp(CommandKind.STATUS, k))
    d = Path(sshd.host_spec().state_dir) / key_hash(k)
    assert (d / "key").read_text() == k + "\n"
    assert (d / "rc").read_text().strip() == "0"
    assert (d / "started_at").read_text().startswith("20")


async def test_concurrent_same_key_runs_once(sshd: SshServer, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    spec = CommandSpec(argv=[f"echo x >> {counter}; sleep 1; echo done"], shell=True)
    host, k = sshd.host_spec(), key()
    a, b = await asyncio.gather(keyed(host, spec, key=k), keyed(host, spec, key=k))
    assert sorted([a[1], b[1]]) == [False, True]
    assert a[0].stdout == b[0].stdout == "done\n"
    assert counter.read_text() == "x\n"


async def test_keyed_command_survives_lost_session(sshd: SshServer, tmp_path: Path) -> None:
    """The worker dies (here: the activity is cancelled, closing the channel) while the
    command runs; it still completes, and the retry returns its recorded result."""
    out = tmp_path / "finished"
    spec = CommandSpec(argv=[f"sleep 1.5; touch {out}; echo late; exit 3"], shell=True)
    host, k = sshd.host_spec(), key()
    task = asyncio.create_task(keyed(host, spec, key=k))
    await asyncio.sleep(0.7)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not out.exists()
    result, replayed = await keyed(host, spec, key=k)
    assert replayed and out.exists()
    assert (result.exit_status, result.stdout) == (3, "late\n")


async def test_keyed_failure_is_recorded_with_stderr_and_cwd(
    sshd: SshServer, tmp_path: Path
) -> None:
    spec = CommandSpec(argv=["sh", "-c", "pwd; echo bad >&2; exit 4"], cwd=str(tmp_path))
    host, k = sshd.host_spec(), key()
    for expect_replay in (False, True):
        r, replayed = await keyed(host, spec, key=k)
        assert replayed is expect_replay
        assert (r.exit_status, r.stdout, r.stderr) == (4, f"{tmp_path}\n", "bad\n")


async def test_keyed_run_that_never_finished_is_unknown(sshd: SshServer) -> None:
    host, k = sshd.host_spec(), key()
    # A claim without rc: an earlier attempt whose host died mid-command.
    (Path(host.state_dir) / key_hash(k)).mkdir(parents=True)
    spec = CommandSpec(argv=["true"], timeout_s=1)
    err = await app_error(keyed(host, spec, key=k), "IdempotencyUnknown")
    assert err.non_retryable


async def test_old_finished_markers_are_pruned(sshd: SshServer) -> None:
    """The state dir does not grow forever: finished markers past the retention go when
    the next keyed command runs; recent ones and unfinished claims stay."""
    host = sshd.host_spec()
    state = Path(host.state_dir)
    month_ago = time.time() - 30 * 86400
    old, recent, unfinished = key(), key(), key()
    for k in (old, recent):
        await keyed(host, CommandSpec(argv=["true"]), key=k)
    (state / key_hash(unfinished)).mkdir(parents=True)
    for path in [state / key_hash(old) / "rc", state / key_hash(unfinished)]:
        os.utime(path, (month_ago, month_ago))
    _, replayed = await keyed(host, CommandSpec(argv=["true"]), key=key())
    assert not replayed
    assert not (state / key_hash(old)).exists()
    assert (state / key_hash(recent) / "rc").exists()
    assert (state / key_hash(unfinished)).exists()  # no exit status: kept for a human
    # A replay of a kept key still answers from its marker.
    assert (await keyed(host, CommandSpec(argv=["true"]), key=recent))[1]


async def test_relative_state_dir_is_under_home(sshd: SshServer) -> None:
    rel = f".remedy-test-{uuid.uuid4().hex}"
    host = sshd.host_spec(state_dir=rel)
    k = key()
    try:
        r, _ = await keyed(host, CommandSpec(argv=["true"]), key=k)
        assert r.ok
        assert (Path.home() / rel / key_hash(k) / "rc").exists()
    finally:
        shutil.rmtree(Path.home() / rel, ignore_errors=True)


async def test_restart_requires_a_key(acts: ServiceActivities) -> None:
    await app_error(acts.restart(inp(CommandKind.RESTART)), "IdempotencyKeyRequired")


async def test_resolution_errors(acts: ServiceActivities) -> None:
    await app_error(
        acts.run(inp(CommandKind.STATUS).model_copy(update={"service": "x"})), "UnknownService"
    )
    await app_error(acts.run(inp(CommandKind.STATUS, host="elsewhere")), "UnknownHost")
    await app_error(acts.run(inp(CommandKind.HEALTH_CHECK)), "CommandNotConfigured")
    bare = ServiceCommandInput(service="bare", command=CommandKind.ROLLBACK_RESET)
    await app_error(acts.run(bare), "CommandNotConfigured")
    await app_error(
        acts.run(bare.model_copy(update={"command": CommandKind.LOGS})), "CommandNotConfigured"
    )


async def test_logs_default_to_a_tail_of_log_files(acts: ServiceActivities) -> None:
    r = await ActivityEnvironment().run(acts.run, inp(CommandKind.LOGS))
    lines = r.result.stdout.splitlines()
    assert len(lines) == 100 and lines[-1] == "line 149"


# ---------------------------------------------------------------- rollback against git
async def test_rollback_steps_restore_stable_code_and_config(
    sshd: SshServer, tmp_path: Path
) -> None:
    origin, work, dev = tmp_path / "origin.git", tmp_path / "work", tmp_path / "dev"
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    git("clone", "-q", str(origin), str(dev), cwd=tmp_path)
    # Local config and its backup are not tracked, as in the seed's deployment.
    commit(dev, {".gitignore": "config/*.yaml\nconfig/backup/\n", "app.py": "v1\n"}, "v1")
    git("push", "-q", "origin", "HEAD:main", "HEAD:deployment-stable", cwd=dev)
    git("clone", "-q", str(origin), str(work), cwd=tmp_path)
    # After the deployment checkout, stable moves on: only a fetch can see it.
    commit(dev, {"app.py": "v1.1 stable\n"}, "v1.1")
    git("push", "-q", "origin", "HEAD:deployment-stable", cwd=dev)
    stable = git("rev-parse", "HEAD", cwd=dev)
    # The bad deployment: a commit, junk files, and a clobbered config.
    commit(work, {"app.py": "broken\n", "bad.py": "boom\n"}, "bad deploy")
    (work / "junk.tmp").write_text("x")
    (work / "junkdir").mkdir()
    (work / "junkdir" / "f").write_text("x")
    (work / "config" / "backup").mkdir(parents=True)
    (work / "config" / "backup" / "app.yaml").write_text("good: true\n")
    (work / "config" / "backup" / "db.yaml").write_text("db: ok\n")
    (work / "config" / "backup" / "notes.txt").write_text("not config\n")
    (work / "config" / "app.yaml").write_text("good: false\n")

    svc = ServiceSpec(hosts=[HOST_NAME], rollback=RollbackSpec(repo_path=str(work)))
    acts = ServiceActivities(Inventory(hosts={HOST_NAME: sshd.host_spec()}, services={"g": svc}))
    incident = uuid.uuid4().hex
    for step in (
        CommandKind.ROLLBACK_FETCH,
        CommandKind.ROLLBACK_RESET,
        CommandKind.ROLLBACK_CLEAN,
        CommandKind.ROLLBACK_RESTORE_CONFIG,
    ):
        r = await acts.run(
            ServiceCommandInput(service="g", command=step, idempotency_key=f"{incident}/{step}")
        )
        assert r.result.ok, r.result
    assert r.result.stdout.splitlines() == ["restored app.yaml", "restored db.yaml"]

    assert git("rev-parse", "HEAD", cwd=work) == stable
    assert (work / "app.py").read_text() == "v1.1 stable\n"
    assert not (work / "bad.py").exists()
    assert not (work / "junk.tmp").exists() and not (work / "junkdir").exists()
    assert (work / "config" / "app.yaml").read_text() == "good: true\n"
    assert (work / "config" / "db.yaml").read_text() == "db: ok\n"
    assert not (work / "config" / "notes.txt").exists()
    assert git("status", "--porcelain", cwd=work) == ""


async def test_restore_config_without_a_backup_fails_clearly(
    sshd: SshServer, tmp_path: Path
) -> None:
    """The seed's `cp config/backup/*.yaml config/` under `set -e` fails when there is
    nothing to copy; a rollback must not report a config restore that did not happen.
    A hostile-looking file name is copied as data, never run."""
    work = tmp_path / "work"
    (work / "config" / "backup").mkdir(parents=True)
    (work / "config" / "backup" / "notes.txt").write_text("not config\n")
    svc = ServiceSpec(hosts=[HOST_NAME], rollback=RollbackSpec(repo_path=str(work)))
    acts = ServiceActivities(Inventory(hosts={HOST_NAME: sshd.host_spec()}, services={"g": svc}))

    def restore() -> ServiceCommandInput:
        return ServiceCommandInput(
            service="g", command=CommandKind.ROLLBACK_RESTORE_CONFIG, idempotency_key=key()
        )

    r = await acts.run(restore())
    assert r.result.exit_status == 1
    assert "no files matching '*.yaml'" in r.result.stderr and "not restored" in r.result.stderr
    assert sorted(p.name for p in (work / "config").iterdir()) == ["backup"]

    odd = "$(touch pwned); x.yaml"
    (work / "config" / "backup" / odd).write_text("a: 1\n")
    r = await acts.run(restore())
    assert r.result.ok and r.result.stdout == f"restored {odd}\n"
    assert (work / "config" / odd).read_text() == "a: 1\n"
    assert not any((d / "pwned").exists() for d in (Path.home(), work, tmp_path))


async def test_keyed_run_with_unusable_state_dir_runs_nothing(
    sshd: SshServer, tmp_path: Path
) -> None:
    canary = tmp_path / "ran"
    host = sshd.host_spec(state_dir="/dev/null/state")
    spec = CommandSpec(argv=["touch", str(canary)])
    r, replayed = await keyed(host, spec, key=key())
    assert r.exit_status == 125 and "mkdir" in r.stderr and not replayed
    assert not canary.exists()


# ---------------------------------------------------------------- smoke tests
async def test_smoke_test_kind_runs_the_services_smoke_test(
    sshd: SshServer, tmp_path: Path
) -> None:
    # GenesisServiceDown step 3 (`python3 -m pytest tests/test_production_health.py...`):
    # CommandKind.SMOKE_TEST is the service's `smoke_test:`, or `commands.smoke_test`.
    (tmp_path / "ok").write_text("")
    smoke = CommandSpec(argv=["test", "-e", "ok"], cwd=str(tmp_path))
    svc = ServiceSpec(hosts=[HOST_NAME], smoke_test=smoke)
    a = ServiceActivities(sshd.inventory({"demo": svc}))
    passed = await a.run(inp(CommandKind.SMOKE_TEST))
    assert passed.result.ok and passed.result.argv == ["test", "-e", "ok"]
    (tmp_path / "ok").unlink()
    assert (await a.run(inp(CommandKind.SMOKE_TEST))).result.exit_status == 1
    own = CommandSpec(argv=["true"])
    svc2 = ServiceSpec(hosts=[HOST_NAME], smoke_test=smoke, commands={"smoke_test": own})
    b = ServiceActivities(sshd.inventory({"demo": svc2}))
    assert (await b.run(inp(CommandKind.SMOKE_TEST))).result.argv == ["true"]
    none = ServiceActivities(sshd.inventory({"demo": ServiceSpec(hosts=[HOST_NAME])}))
    await app_error(none.run(inp(CommandKind.SMOKE_TEST)), "CommandNotConfigured")
