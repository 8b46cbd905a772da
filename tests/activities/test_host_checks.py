"""`diagnostics.host_check` against the real sshd fixture: the Genesis SLI runbooks' lines
run ON the service's host -- connectivity (`curl -I`) to a loopback HTTP server and to a
closed port, `ps aux --sort=-%mem` cut to its `| head -10`, the AOP grep of a real log
counted by issue, the LLM API latency by `curl -w` (answered, and curl's own timeout)
-- the default lines admitted by the service's allowlist, and the python_malloc
mitigation of examples/inventory.yaml written, dry-run and restored on the host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.diagnostics import DiagnosticsActivities
from activities.inventory import RollbackSpec, ServiceSpec
from activities.inventory.loader import load_inventory
from activities.mitigation import MitigationActivities
from activities.ssh_policy import check_argv
from tests.fixtures.httpsink import HttpSink, SinkResponse
from tests.fixtures.sshd import HOST_NAME, SshServer, free_port
from workflows.contracts.diagnostics import (
    DiagCommand,
    DiagnosticsPolicy,
    GenesisHostChecks,
    HostCheckInput,
)
from workflows.contracts.mitigation import MitigationInput
from workflows.contracts.safety import SafetyOverrides

SVC = "genesis-orchestration"
EXAMPLE = Path(__file__).parents[2] / "examples" / "inventory.yaml"

AOP_LOG = """\
2026-12-01 10:00:00 INFO started
2026-12-01 10:00:01 ERROR AOP validation failed: solvability 0.41 < 0.7
2026-12-01 10:00:02 ERROR AOP validation failed: completeness 0.52 < 0.7
2026-12-01 10:00:03 WARNING HALO routing slow
2026-12-01 10:00:04 ERROR AOP validation failed: solvability 0.38 < 0.7
2026-12-01 10:00:05 ERROR AOP validation failed: redundant subtask t3
2026-12-01 10:00:06 ERROR AOP validation failed: solvability 0.40 < 0.7
2026-12-01 10:00:07 INFO AOP validator reloaded
"""


def acts(sshd: SshServer, tmp_path: Path, **checks: Any) -> DiagnosticsActivities:
    log = tmp_path / "genesis.log"
    if not log.exists():
        log.write_text(AOP_LOG)
    spec = ServiceSpec(
        hosts=[HOST_NAME],
        log_files=[str(log)],
        diagnostics=DiagnosticsPolicy(host_checks=GenesisHostChecks(**checks)),
    )
    return DiagnosticsActivities(sshd.inventory({SVC: spec}))


def check(kind: str, name: str = "") -> HostCheckInput:
    return HostCheckInput(service=SVC, kind=kind, name=name)  # type: ignore[arg-type]


async def test_connectivity_from_the_host(
    sshd: SshServer, tmp_path: Path, httpsink: HttpSink
) -> None:
    # `curl -I` from the host: the loopback server answers (any HTTP status line is
    # reachable: this one refuses HEAD); a closed port is exit 7, an answer -- not an
    # error to retry.
    closed = f"http://127.0.0.1:{free_port()}"
    a = acts(
        sshd,
        tmp_path,
        connectivity={
            "curl": DiagCommand(argv=["curl", "-sS", "-I", "--max-time", "5", httpsink.url]),
            "closed": DiagCommand(argv=["curl", "-sS", "-I", "--max-time", "5", closed]),
        },
    )
    up = await a.host_check(check("connectivity", "curl"))
    assert up.ok and up.exit_status == 0 and up.host == HOST_NAME
    assert up.output.startswith("HTTP/1.") and "HEAD" in up.output.splitlines()[0]
    down = await a.host_check(check("connectivity", "closed"))
    assert not down.ok and down.exit_status == 7 and "Failed to connect" in down.output


async def test_top_memory_processes_cut_to_10_lines(sshd: SshServer, tmp_path: Path) -> None:
    res = await acts(sshd, tmp_path).host_check(check("resource_hog", "top mem"))
    lines = res.output.splitlines()
    assert res.ok and lines[0].split()[:4] == ["USER", "PID", "%CPU", "%MEM"]
    # `| head -10`, then the 2000-character bound (long command lines clip it sooner).
    assert 2 <= len(lines) <= 10 and res.truncated and res.lines > 10
    assert len(res.output) <= 2000
    mem = [float(ln.split()[3]) for ln in lines[1:] if len(ln.split()) > 4]
    assert mem == sorted(mem, reverse=True)  # --sort=-%mem: the hog first


async def test_aop_grep_counted_by_validation_issue(sshd: SshServer, tmp_path: Path) -> None:
    res = await acts(sshd, tmp_path).host_check(check("validation_log"))
    # grep "AOP" LOG | tail -50: the six AOP lines, not the HALO one.
    assert res.ok and res.lines == 6 and "HALO" not in res.output
    assert res.counts == {"solvability": 3, "completeness": 1, "redundancy": 1}
    # tail -N: only the last N lines are looked at.
    last2 = await acts(sshd, tmp_path, validation_log_lines=2).host_check(check("validation_log"))
    assert last2.lines == 2 and last2.counts == {"solvability": 1}


async def test_aop_grep_pattern_is_not_shell(sshd: SshServer, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    a = acts(sshd, tmp_path, validation_log_pattern=f"$(touch {pwned})")
    res = await a.host_check(check("validation_log"))
    assert not pwned.exists() and res.lines == 0
    (tmp_path / "genesis.log").unlink()
    gone = await a.host_check(check("validation_log"))
    assert not gone.ok and "cannot read" in gone.output


async def test_llm_latency_measured_and_timed_out(
    sshd: SshServer, tmp_path: Path, httpsink: HttpSink
) -> None:
    def curl(max_time: str) -> DiagCommand:
        argv = ["curl", "-o", "/dev/null", "-sS", "--max-time", max_time, "-w"]
        return DiagCommand(argv=[*argv, "%{time_total}\n", f"{httpsink.url}/v1/chat"])

    httpsink.script(SinkResponse(status=401, delay_s=0.3))
    res = await acts(sshd, tmp_path, llm_latency=curl("5")).host_check(check("llm_latency"))
    assert res.ok and res.seconds is not None and 0.3 <= res.seconds < 5
    httpsink.script(SinkResponse(delay_s=3))
    slow = await acts(sshd, tmp_path, llm_latency=curl("1")).host_check(check("llm_latency"))
    assert slow.exit_status == 28 and slow.seconds is not None and slow.seconds >= 1


async def test_unconfigured_check_is_a_clear_error(sshd: SshServer, tmp_path: Path) -> None:
    a = acts(sshd, tmp_path, llm_latency=None)
    for inp in (check("connectivity", "telnet"), check("llm_latency")):
        with pytest.raises(ApplicationError) as err:
            await a.host_check(inp)
        assert err.value.type == "CommandNotConfigured" and "host_checks" in str(err.value)


async def test_explicit_allowlist_is_obeyed(sshd: SshServer, tmp_path: Path) -> None:
    svc = ServiceSpec(hosts=[HOST_NAME], allowed_commands=[["ps", "aux", "--sort=-%cpu"]])
    a = DiagnosticsActivities(sshd.inventory({SVC: svc}))
    assert (await a.host_check(check("resource_hog", "top cpu"))).ok
    with pytest.raises(ApplicationError) as err:
        await a.host_check(check("resource_hog", "top mem"))
    assert err.value.type == "CommandNotAllowed" and err.value.non_retryable


def test_the_runbook_lines_are_admitted_by_default() -> None:
    # No allowed_commands: the service's own commands, its host checks included.
    inv = load_inventory(EXAMPLE)
    hc = inv.service(SVC).diagnostics.host_checks
    assert [c.argv for c in hc.connectivity.values()] == [
        ["ping", "-c", "5", "api.openai.com"],
        ["curl", "-sS", "-I", "--max-time", "10", "https://api.anthropic.com"],
        ["nslookup", "api.openai.com"],
    ]
    assert hc.llm_latency is not None
    for c in [*hc.connectivity.values(), *hc.resource_hogs.values(), hc.llm_latency]:
        check_argv(inv, SVC, c.argv)
    with pytest.raises(ApplicationError):
        check_argv(inv, SVC, ["ping", "-c", "5", "evil.example"])


# ---------------------------------------------------------------- python_malloc (memory > 80 %)
def malloc_acts(sshd: SshServer, repo: Path, dry_run: bool = False) -> MitigationActivities:
    spec = load_inventory(EXAMPLE).service(SVC).mitigations["python_malloc"]
    svc = ServiceSpec(
        hosts=[HOST_NAME],
        rollback=RollbackSpec(repo_path=str(repo)),
        mitigations={"python_malloc": spec},
        safety=SafetyOverrides(dry_run=dry_run or None),
    )
    return MitigationActivities(sshd.inventory({SVC: svc}))


async def test_python_malloc_written_keyed_and_restored(sshd: SshServer, tmp_path: Path) -> None:
    repo = tmp_path / "genesis-rebuild"
    (repo / "config").mkdir(parents=True)
    env = repo / "config" / "python_malloc.env"
    inp = MitigationInput(service=SVC, name="python_malloc", incident_id="incident:P95:run-1")

    dry = await malloc_acts(sshd, repo, dry_run=True).apply(inp)
    assert dry.dry_run and dry.restart and not env.exists() and "DRY RUN" in dry.detail

    a = malloc_acts(sshd, repo)
    res = await a.apply(inp)
    assert res.changed and res.restart and env.read_text() == "PYTHONMALLOC=malloc\n"
    again = await a.apply(inp)  # the same run retried: the first answer, no second write
    assert again.replayed and again.changed
    back = await a.restore(inp)
    assert back.changed and not env.exists()
