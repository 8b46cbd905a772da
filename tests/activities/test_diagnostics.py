"""activities/diagnostics.py against the real sshd fixture (a real log file, a real git
repo, real commands): the Agent Lab host checks -- resource commands bounded to their
head_lines, the error grep with pattern and file as argv words (shell syntax in them stays
literal), the data dir, the port check over a real listening socket, the allowlist --
and the error groups and recent changes of the "High Error Rate" investigation."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.diagnostics import DiagnosticsActivities, exhaustion, listening_on
from activities.inventory import CommandSpec, ServiceSpec
from tests.fixtures.gitrepo import commit, git
from tests.fixtures.sshd import HOST_NAME, SshServer, free_port
from workflows.contracts.diagnostics import (
    DiagCommand,
    DiagnoseInput,
    ErrorGroupsInput,
    RecentChangesInput,
)
from workflows.contracts.policy import AgentLabSpec
from workflows.contracts.service import MaintenanceSpec

SVC = "agent-lab"

LOG = """\
2024-05-01 10:00:00,001 INFO started
2024-05-01 10:00:01,002 ERROR OpenRouter timeout after 30s
2024-05-01 10:00:02,003 ERROR KeyError: 'session_id'
2024-05-01 10:00:03,004 ERROR OpenRouter timeout after 30s
2024-05-01 10:00:04,005 WARNING slow
2024-05-01 10:00:05,006 ERROR OpenRouter timeout after 30s
2024-05-01 10:00:06,007 ERROR KeyError: 'session_id'
2024-05-01 10:00:07,008 ERROR CSV write failed; token=sk-secret-123
"""


def lab_acts(sshd: SshServer, tmp_path: Path, **svc: Any) -> DiagnosticsActivities:
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
    return DiagnosticsActivities(sshd.inventory({SVC: spec}))


def diag(kind: str, name: str = "") -> DiagnoseInput:
    return DiagnoseInput(service=SVC, kind=kind, name=name)  # type: ignore[arg-type]


@pytest.fixture
def app_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "app"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    for i in range(12):
        commit(repo, {"app.py": f"VERSION = {i}\n"}, f"change {i}")
    return repo


def log_acts(sshd: SshServer, tmp_path: Path, repo: Path, **svc: object) -> DiagnosticsActivities:
    log = tmp_path / "app.log"
    log.write_text(LOG)
    spec: dict[str, object] = (
        dict(
            hosts=[HOST_NAME],
            log_files=[str(log)],
            source_repo=str(repo),
            commands={"logs": CommandSpec(argv=["tail", "-n", "3", str(log)])},
        )
        | svc
    )
    return DiagnosticsActivities(sshd.inventory({"agent-lab": ServiceSpec(**spec)}))  # type: ignore[arg-type]


# ---------------------------------------------------------------- agent_lab checks
async def test_resources_run_and_top_is_cut_to_20_lines(sshd: SshServer, tmp_path: Path) -> None:
    a = lab_acts(sshd, tmp_path)
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
    a = lab_acts(sshd, tmp_path, lab={"resources": {"cat": DiagCommand(argv=["cat", str(big)])}})
    res = await a.diagnose(diag("resource", "cat"))
    assert res.ok and res.truncated and len(res.output) <= 2000
    assert "hunter2" not in res.output and "api_key=[REDACTED]" in res.output


async def test_error_grep_last_20_case_insensitive(sshd: SshServer, tmp_path: Path) -> None:
    lines = [f"2026-12-01 INFO request {i}" for i in range(50)]
    lines += [f"2026-12-01 {'Error' if i % 2 else 'ERROR'} failure {i}" for i in range(30)]
    lines += ["WARN stream chunk lost", "INFO client disconnect"]
    (tmp_path / "app.log").write_text("\n".join(lines) + "\n")
    a = lab_acts(sshd, tmp_path)
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
    a = lab_acts(sshd, tmp_path, lab={"error_pattern": f"$(touch {pwned})"})
    res = await a.diagnose(diag("log_errors"))
    # The pattern is a regex, one argv word: `$(` is matched (as regex text), never run.
    assert res.ok and not pwned.exists()
    (tmp_path / "nowhere").mkdir()
    missing = lab_acts(sshd, tmp_path / "nowhere")
    res = await missing.diagnose(diag("log_errors"))
    assert not res.ok and "cannot read" in res.detail


async def test_data_dir_readable_and_missing(sshd: SshServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "runs.csv").write_text("ts,agent_name,model\n1,a,secret-user-row\n")
    a = lab_acts(sshd, tmp_path)
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
    up = await lab_acts(sshd, tmp_path, port=listener).diagnose(diag("port"))
    assert up.ok and up.listening is True and f":{listener} listening" in up.detail
    down = await lab_acts(sshd, tmp_path, port=free_port()).diagnose(diag("port"))
    assert not down.ok and down.listening is False


def test_listening_on_parses_ss_and_netstat() -> None:
    ss = (
        "State  Recv-Q Send-Q Local Address:Port Peer Address:Port\n"
        "LISTEN 0 5 0.0.0.0:7860 0.0.0.0:*"
    )
    assert listening_on(ss, 7860) and not listening_on(ss, 786) and not listening_on(ss, 78600)
    assert listening_on("tcp6 0 0 :::7860 :::* LISTEN", 7860)


async def test_explicit_allowlist_is_obeyed(sshd: SshServer, tmp_path: Path) -> None:
    a = lab_acts(sshd, tmp_path, allowed_commands=[["df", "-h"]])
    assert (await a.diagnose(diag("resource", "disk"))).ok
    with pytest.raises(ApplicationError) as err:
        await a.diagnose(diag("resource", "top"))
    assert err.value.type == "CommandNotAllowed" and err.value.non_retryable


# ---------------------------------------------------------------- error groups, git log
async def test_error_groups_counted_and_sorted(
    sshd: SshServer, tmp_path: Path, app_repo: Path
) -> None:
    res = await log_acts(sshd, tmp_path, app_repo).error_groups(
        ErrorGroupsInput(service="agent-lab", top=2)
    )
    assert res.error_lines == 6
    # `cut -d' ' -f4-`: date, time and level gone; `sort -nr`: most frequent first; top 2.
    assert [(g.count, g.message) for g in res.groups] == [
        (3, "OpenRouter timeout after 30s"),
        (2, "KeyError: 'session_id'"),
    ]
    assert res.log_file.endswith("app.log")


async def test_error_groups_redacts_and_takes_the_path_as_one_word(
    sshd: SshServer, tmp_path: Path, app_repo: Path
) -> None:
    res = await log_acts(sshd, tmp_path, app_repo).error_groups(
        ErrorGroupsInput(service="agent-lab")
    )
    text = " ".join(g.message for g in res.groups)
    assert "sk-secret-123" not in text and "[REDACTED]" in text
    # A log path with a space and a `$(...)` stays one literal argv word.
    odd = tmp_path / "we ird $(touch pwned)"
    odd.mkdir()
    (odd / "app.log").write_text(LOG)
    a = log_acts(sshd, tmp_path, app_repo, log_files=[str(odd / "app.log")])
    assert (await a.error_groups(ErrorGroupsInput(service="agent-lab"))).error_lines == 6
    assert not (Path.home() / "pwned").exists() and not (tmp_path / "pwned").exists()


async def test_unreadable_log_is_a_non_retryable_failure(
    sshd: SshServer, tmp_path: Path, app_repo: Path
) -> None:
    a = log_acts(sshd, tmp_path, app_repo, log_files=[str(tmp_path / "missing.log")])
    with pytest.raises(ApplicationError) as err:
        await a.error_groups(ErrorGroupsInput(service="agent-lab"))
    assert err.value.type == "LogUnreadable" and err.value.non_retryable
    assert "cannot read" in str(err.value)


async def test_recent_changes_is_git_log_oneline(
    sshd: SshServer, tmp_path: Path, app_repo: Path
) -> None:
    res = await log_acts(sshd, tmp_path, app_repo).recent_changes(
        RecentChangesInput(service="agent-lab", count=10)
    )
    assert len(res.commits) == 10
    head = git("log", "--oneline", "-1", cwd=app_repo)
    assert res.commits[0] == head and res.commits[0].endswith("change 11")
    assert res.commits[-1].endswith("change 2")
    # Each commit's committer time, paired by index (High Error Rate's "recent deployment").
    stamps = git("log", "--format=%ct", "-10", cwd=app_repo).split()
    assert [int(t.timestamp()) for t in res.committed_at] == [int(s) for s in stamps]


async def test_error_groups_count_exception_lines_too(
    sshd: SshServer, tmp_path: Path, app_repo: Path
) -> None:
    # The runbook's `grep 'ERROR\|Exception'`: a traceback's last line has no ERROR.
    a = log_acts(sshd, tmp_path, app_repo)
    log = tmp_path / "app.log"
    log.write_text(LOG + "2024-05-01 10:00:08,009 CRITICAL RuntimeException: pool closed\n")
    res = await a.error_groups(ErrorGroupsInput(service="agent-lab"))
    assert res.error_lines == 7
    assert (1, "RuntimeException: pool closed") in [(g.count, g.message) for g in res.groups]


# ---------------------------------------------------------------- network (Streaming Failure)
def test_network_checks_default_to_the_runbooks_ping_and_mtr_of_the_upstream() -> None:
    lab = AgentLabSpec(upstream_url="https://openrouter.ai/api/v1/models")
    assert lab.network is not None
    assert lab.network["ping"].argv == ["ping", "-c", "10", "openrouter.ai"]
    assert lab.network["mtr"].argv == ["mtr", "--report", "-c", "10", "openrouter.ai"]
    other = AgentLabSpec(upstream_url="https://openrouter.ai/x", network_target="10.0.0.9")
    assert other.network is not None and other.network["ping"].argv[-1] == "10.0.0.9"
    bare = AgentLabSpec()
    flags = dict(has_logs=False, has_data_dir=False, has_health_url=False, has_detailed=False)
    assert bare.network == {} and bare.policy(**flags).network == []
    with pytest.raises(ValueError, match="network_target"):
        AgentLabSpec(network_target="x; rm -rf /")


async def test_network_check_runs_on_the_host(sshd: SshServer, tmp_path: Path) -> None:
    # No ping binary on CI hosts: a stand-in that prints its argv and 30 lines, as ping
    # would print per-packet lines, run over the real sshd like any configured check.
    fake = tmp_path / "ping"
    fake.write_text('#!/bin/sh\necho "args: $*"\nfor i in $(seq 30); do echo "seq=$i"; done\n')
    fake.chmod(0o755)
    net = {"ping": DiagCommand(argv=[str(fake), "-c", "10", "openrouter.ai"], head_lines=12)}
    a = lab_acts(sshd, tmp_path, lab={"network": net})
    res = await a.diagnose(diag("network", "ping"))
    assert res.ok and res.kind == "network" and res.name == "ping" and res.truncated
    out = res.output.splitlines()
    assert out[0] == "args: -c 10 openrouter.ai" and len(out) == 12
    with pytest.raises(ApplicationError, match="no network check 'mtr'") as err:
        await a.diagnose(diag("network", "mtr"))
    assert err.value.type == "CommandNotConfigured"


# ---------------------------------------------------------------- resource exhaustion
DF = """\
Filesystem      Size  Used Avail Use% Mounted on
overlay          98G   {used}G  {avail}G  {pct}% /
tmpfs            64M     0   64M   0% /dev
"""
FREE = """\
               total        used        free      shared  buff/cache   available
Mem:           {total}       7.5Gi       100Mi       1.0Mi       200Mi       {avail}
Swap:             0B          0B          0B
"""


async def test_resource_output_shows_exhaustion(sshd: SshServer, tmp_path: Path) -> None:
    # Application Down "Scale Resources (if resource exhaustion)": df and free output,
    # read over real SSH, against the agent_lab thresholds (95 % used, 5 % available).
    (tmp_path / "df.txt").write_text(DF.format(used=94, avail=4, pct=96))
    (tmp_path / "free.txt").write_text(FREE.format(total="8.0Gi", avail="300Mi"))
    (tmp_path / "top.txt").write_text("top - 10:00:00 up 1 day\nMiB Mem : 8000.0 total\n")
    resources = {
        "top": DiagCommand(argv=["cat", str(tmp_path / "top.txt")]),
        "disk": DiagCommand(argv=["cat", str(tmp_path / "df.txt")]),
        "memory": DiagCommand(argv=["cat", str(tmp_path / "free.txt")]),
    }
    a = lab_acts(sshd, tmp_path, lab={"resources": resources})
    assert (await a.diagnose(diag("resource", "disk"))).exhausted == "disk / 96% used"
    mem = await a.diagnose(diag("resource", "memory"))
    assert mem.exhausted == "memory 300Mi of 8.0Gi available"
    assert (await a.diagnose(diag("resource", "top"))).exhausted is None
    # The thresholds are the inventory's.
    b = lab_acts(sshd, tmp_path, lab={"resources": resources, "disk_full_pct": 97})
    assert (await b.diagnose(diag("resource", "disk"))).exhausted is None


@pytest.mark.parametrize(
    ("pct", "avail", "found"),
    [
        # 5 % of 8 GiB is 409.6 MiB: 409 MiB is under it, 410 MiB over.
        (95, "409Mi", "disk / 95% used; memory 409Mi of 8.0Gi available"),
        (94, "410Mi", None),
    ],
)
def test_exhaustion_thresholds_boundary(pct: int, avail: str, found: str | None) -> None:
    out = DF.format(used=90, avail=8, pct=pct) + FREE.format(total="8.0Gi", avail=avail)
    assert exhaustion(out, 95.0, 5.0) == found
