"""The Agent Lab host checks against the real sshd fixture: resource commands bounded to
their head_lines, the error grep with pattern and file as argv words (shell syntax in
them stays literal), the data dir, the port check over a real listening socket, and
maintenance mode run once per key (and not at all in dry-run)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.agentlab_host import AgentLabHostActivities, listening_on
from activities.inventory import ServiceSpec
from tests.fixtures.sshd import HOST_NAME, SshServer, free_port
from workflows.contracts.diagnostics import DiagCommand, DiagnoseInput
from workflows.contracts.policy import AgentLabSpec
from workflows.contracts.safety import SafetyOverrides
from workflows.contracts.service import MaintenanceInput, MaintenanceSpec

SVC = "agent-lab"


def acts(sshd: SshServer, tmp_path: Path, **svc: Any) -> AgentLabHostActivities:
    site = tmp_path / "www"
    site.mkdir(exist_ok=True)
    lab = AgentLabSpec(
        port=svc.pop("port", None),
        maintenance=MaintenanceSpec(
            enable=DiagCommand(
                argv=["cp", str(site / "maintenance.html"), str(site / "index.html")]
            ),
            disable=DiagCommand(
                argv=["cp", str(site / "index.html.backup"), str(site / "index.html")]
            ),
        ),
        **svc.pop("lab", {}),
    )
    spec = ServiceSpec(
        hosts=[HOST_NAME],
        log_files=[str(tmp_path / "app.log")],
        data_dir=str(tmp_path / "data"),
        agent_lab=lab,
        **svc,
    )
    return AgentLabHostActivities(sshd.inventory({SVC: spec}))


def diag(kind: str, name: str = "") -> DiagnoseInput:
    return DiagnoseInput(service=SVC, kind=kind, name=name)  # type: ignore[arg-type]


async def test_resources_run_and_top_is_cut_to_20_lines(sshd: SshServer, tmp_path: Path) -> None:
    a = acts(sshd, tmp_path)
    top = await a.diagnose(diag("resource", "top"))
    assert top.ok and top.output.startswith("top - ")
    assert len(top.output.splitlines()) == 20 and top.truncated and top.lines > 20
    disk = await a.diagnose(diag("resource", "disk"))
    assert disk.ok and "Filesystem" in disk.output
    mem = await a.diagnose(diag("resource", "memory"))
    assert mem.ok and "Mem:" in mem.output


async def test_output_is_bounded_and_redacted(sshd: SshServer, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("api_key=hunter2\n" + "x" * 100 + "\n" + "y" * 10_000 + "\n")
    a = acts(sshd, tmp_path, lab={"resources": {"cat": DiagCommand(argv=["cat", str(big)])}})
    res = await a.diagnose(diag("resource", "cat"))
    assert res.ok and res.truncated and len(res.output) <= 2000
    assert "hunter2" not in res.output and "api_key=[REDACTED]" in res.output


async def test_error_grep_last_20_case_insensitive(sshd: SshServer, tmp_path: Path) -> None:
    lines = [f"2026-12-01 INFO request {i}" for i in range(50)]
    lines += [f"2026-12-01 {'Error' if i % 2 else 'ERROR'} failure {i}" for i in range(30)]
    lines += ["WARN stream chunk lost", "INFO client disconnect"]
    (tmp_path / "app.log").write_text("\n".join(lines) + "\n")
    a = acts(sshd, tmp_path)
    res = await a.diagnose(diag("log_errors"))
    out = res.output.splitlines()
    assert res.ok and res.lines == 20 and len(out) == 20
    assert out[0].endswith("failure 10") and out[-1].endswith("failure 29")
    streams = await a.diagnose(diag("stream_errors"))
    assert streams.lines == 2 and "chunk lost" in streams.output and "disconnect" in streams.output


async def test_grep_pattern_and_file_are_not_shell(sshd: SshServer, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    log = tmp_path / "app.log"
    log.write_text(f"error $(touch {pwned})\nerror plain\n")
    a = acts(sshd, tmp_path, lab={"error_pattern": f"$(touch {pwned})"})
    res = await a.diagnose(diag("log_errors"))
    # The pattern is a regex, one argv word: `$(` is matched (as regex text), never run.
    assert res.ok and not pwned.exists()
    (tmp_path / "nowhere").mkdir()
    missing = acts(sshd, tmp_path / "nowhere")
    res = await missing.diagnose(diag("log_errors"))
    assert not res.ok and "cannot read" in res.detail


async def test_data_dir_readable_and_missing(sshd: SshServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "runs.csv").write_text("ts,agent_name,model\n1,a,secret-user-row\n")
    a = acts(sshd, tmp_path)
    res = await a.diagnose(diag("data_dir"))
    assert res.ok and "runs.csv: readable, first line: ts,agent_name,model" in res.output
    assert "secret-user-row" not in res.output  # rows are user data: header only
    (data / "runs.csv").unlink()
    res = await a.diagnose(diag("data_dir"))
    assert not res.ok and "head" in res.detail and "runs.csv" in res.detail


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


async def test_port_listening_or_not(sshd: SshServer, tmp_path: Path, listener: int) -> None:
    up = await acts(sshd, tmp_path, port=listener).diagnose(diag("port"))
    assert up.ok and up.listening is True and f":{listener} listening" in up.detail
    down = await acts(sshd, tmp_path, port=free_port()).diagnose(diag("port"))
    assert not down.ok and down.listening is False


def test_listening_on_parses_ss_and_netstat() -> None:
    ss = (
        "State  Recv-Q Send-Q Local Address:Port Peer Address:Port\n"
        "LISTEN 0 5 0.0.0.0:7860 0.0.0.0:*"
    )
    assert listening_on(ss, 7860) and not listening_on(ss, 786) and not listening_on(ss, 78600)
    assert listening_on("tcp6 0 0 :::7860 :::* LISTEN", 7860)


async def test_maintenance_on_off_once_per_key(sshd: SshServer, tmp_path: Path) -> None:
    site = tmp_path / "www"
    a = acts(sshd, tmp_path)
    (site / "maintenance.html").write_text("down for maintenance")
    (site / "index.html.backup").write_text("the app")
    (site / "index.html").write_text("the app")
    key = f"incident:{uuid.uuid4()}:maintenance-enable"
    on = await a.maintenance(MaintenanceInput(service=SVC, mode="enable", idempotency_key=key))
    assert on.ok and not on.replayed and (site / "index.html").read_text() == "down for maintenance"
    (site / "index.html").write_text("edited by a human")
    again = await a.maintenance(MaintenanceInput(service=SVC, mode="enable", idempotency_key=key))
    assert again.ok and again.replayed and (site / "index.html").read_text() == "edited by a human"
    off = await a.maintenance(
        MaintenanceInput(service=SVC, mode="disable", idempotency_key=key + "-off")
    )
    assert off.ok and (site / "index.html").read_text() == "the app"


async def test_maintenance_dry_run_touches_nothing(sshd: SshServer, tmp_path: Path) -> None:
    a = acts(sshd, tmp_path, safety=SafetyOverrides(dry_run=True))
    res = await a.maintenance(
        MaintenanceInput(service=SVC, mode="enable", idempotency_key=f"k:{uuid.uuid4()}")
    )
    assert res.dry_run and "DRY RUN: would run `cp" in res.detail
    assert not (tmp_path / "www" / "index.html").exists()


async def test_explicit_allowlist_is_obeyed(sshd: SshServer, tmp_path: Path) -> None:
    a = acts(sshd, tmp_path, allowed_commands=["df"])
    assert (await a.diagnose(diag("resource", "disk"))).ok
    with pytest.raises(ApplicationError) as err:
        await a.diagnose(diag("resource", "top"))
    assert err.value.type == "CommandNotAllowed" and err.value.non_retryable
