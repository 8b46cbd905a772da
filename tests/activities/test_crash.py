"""activities/crash.py against the real sshd fixture: the crash dump kept on the host
(`crash_<stamp>/<source>`, whole outputs), the crash reason read from the sources' tails,
one directory per stamp however often it is retried, dry-run writing nothing, the
allowlist, redaction -- and the classification's order on the runbook's five reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.crash import CrashActivities, classify
from activities.inventory import CommandSpec, ServiceSpec
from activities.inventory.crash import CrashDumpSpec
from activities.ssh_policy import check_argv
from tests.fixtures.sshd import HOST_NAME, SshServer
from workflows.contracts.diagnostics import CrashEvidenceInput
from workflows.contracts.safety import SafetyOverrides

SVC = "genesis-orchestration"
STAMP = "20261206_070000"

JOURNAL = "".join(
    f"Dec 06 06:{i // 60:02d}:{i % 60:02d} app[42]: INFO tick {i}\n" for i in range(500)
)
KERN = (
    "[1234.5] genesis[4242]: segfault at 0 ip 00007f sp 00007ffd error 4 in libfoo.so\n"
    "[1234.6] systemd[1]: genesis-orchestration.service: Main process exited, "
    "status=11/SEGV\n"
)


def acts(sshd: SshServer, tmp: Path, **svc: Any) -> CrashActivities:
    (tmp / "journal.txt").write_text(JOURNAL + svc.pop("journal_tail", ""))
    (tmp / "kern.txt").write_text(svc.pop("kern", KERN))
    (tmp / "app.log").write_text("2026-12-06 INFO started\n" + svc.pop("app", ""))
    dump = svc.pop(
        "crash_dump",
        CrashDumpSpec(
            dir=str(tmp / "logs"),
            sources={
                "service.log": ["cat", str(tmp / "journal.txt")],
                "dmesg.log": ["cat", str(tmp / "kern.txt")],
                "syslog": ["cat", str(tmp / "no-such-syslog")],
            },
        ),
    )
    spec = ServiceSpec(
        hosts=[HOST_NAME],
        commands={"logs": CommandSpec(argv=["tail", "-n", "50", str(tmp / "app.log")])},
        crash_dump=dump,
        **svc,
    )
    return CrashActivities(sshd.inventory({SVC: spec}))


def inp(stamp: str = STAMP) -> CrashEvidenceInput:
    return CrashEvidenceInput(service=SVC, stamp=stamp)


async def test_dump_kept_and_segfault_identified(sshd: SshServer, tmp_path: Path) -> None:
    res = await acts(sshd, tmp_path).crash_evidence(inp())
    assert res.reason == "segmentation_fault" and res.reason_text == "segmentation fault"
    assert "status=11/SEGV" in res.evidence  # the last matching line
    dump = tmp_path / "logs" / f"crash_{STAMP}"
    assert res.dump_dir == f"{HOST_NAME}:{dump}" and not res.dry_run
    # Whole outputs on the host; only the tails came back.
    assert (dump / "service.log").read_text() == JOURNAL
    assert (dump / "dmesg.log").read_text() == KERN
    assert (dump / "app.log").read_text().startswith("2026-12-06 INFO started")
    by_name = {s.name: s for s in res.sources}
    assert list(by_name) == ["service.log", "dmesg.log", "syslog", "app.log"]
    assert by_name["service.log"].ok and by_name["service.log"].lines == 200  # tail_lines
    # A source that fails is recorded; the others still count.
    assert not by_name["syslog"].ok and "exit 1" in by_name["syslog"].detail
    assert "No such file" in (dump / "syslog").read_text()


async def test_a_retry_rewrites_the_same_dump(sshd: SshServer, tmp_path: Path) -> None:
    a = acts(sshd, tmp_path)
    first = await a.crash_evidence(inp())
    (tmp_path / "kern.txt").write_text("[1.0] Out of memory: Killed process 4242 (python3)\n")
    again = await a.crash_evidence(inp())  # the activity retried: same stamp
    assert again.dump_dir == first.dump_dir
    assert [p.name for p in (tmp_path / "logs").iterdir()] == [f"crash_{STAMP}"]
    assert again.reason == "oom_killer"  # rewritten, not appended
    assert "segfault" not in (tmp_path / "logs" / f"crash_{STAMP}" / "dmesg.log").read_text()


async def test_dry_run_writes_nothing_and_still_identifies(sshd: SshServer, tmp_path: Path) -> None:
    a = acts(sshd, tmp_path, safety=SafetyOverrides(dry_run=True))
    res = await a.crash_evidence(inp())
    assert res.dry_run and res.dump_dir is None
    assert res.detail.startswith("DRY RUN: would keep the crash dump in")
    assert res.reason == "segmentation_fault"
    assert not (tmp_path / "logs").exists()


async def test_unknown_without_a_match(sshd: SshServer, tmp_path: Path) -> None:
    res = await acts(sshd, tmp_path, kern="[1.0] eth0: link up\n").crash_evidence(inp())
    assert res.reason == "unknown" and res.evidence == ""
    assert res.reason_text == "unknown, see crash dump"


async def test_exception_and_missing_module_from_the_service_log(
    sshd: SshServer, tmp_path: Path
) -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/app/main.py", line 3, in <module>\n'
        "ModuleNotFoundError: No module named 'yaml'\n"
    )
    res = await acts(sshd, tmp_path, kern="", app=traceback).crash_evidence(inp())
    # A missing module is also an exception: the more specific reason wins.
    assert res.reason == "dependency_missing"
    assert res.evidence == "ModuleNotFoundError: No module named 'yaml'"


async def test_evidence_is_redacted(sshd: SshServer, tmp_path: Path) -> None:
    app = "ConfigError: cannot start with api_key=sk-secret-1234567890abcdef\n"
    res = await acts(sshd, tmp_path, kern="", app=app).crash_evidence(inp())
    assert res.reason == "configuration_error"
    assert "ConfigError" in res.evidence and "sk-secret-1234567890abcdef" not in res.evidence


async def test_without_crash_dump_section_reads_the_logs_command(
    sshd: SshServer, tmp_path: Path
) -> None:
    app = "Dec 06 kernel: Out of memory: Killed process 42 (python3)\n"
    res = await acts(sshd, tmp_path, crash_dump=None, app=app).crash_evidence(inp())
    assert res.reason == "oom_killer" and res.dump_dir is None
    assert res.detail == "no crash dump kept: no crash_dump.dir in the inventory"
    assert [s.name for s in res.sources] == ["app.log"]
    assert not (tmp_path / "logs").exists()


async def test_a_source_not_on_the_allowlist_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    a = acts(sshd, tmp_path, allowed_commands=[["tail", "-n", "50", str(tmp_path / "app.log")]])
    with pytest.raises(ApplicationError) as err:
        await a.crash_evidence(inp())
    assert err.value.type == "CommandNotAllowed"
    assert not (tmp_path / "logs").exists()  # nothing was sent


async def test_default_sources_run_and_are_admitted(sshd: SshServer, tmp_path: Path) -> None:
    # The runbook's journal / dmesg / syslog, derived: on the allowlist without being
    # written; whatever this host lets them read, each is kept or reported.
    dump = CrashDumpSpec(dir=str(tmp_path / "logs"), unit="genesis-orchestration")
    a = acts(sshd, tmp_path, crash_dump=dump)
    for cmd in dump.default_sources().values():
        check_argv(a.inventory, SVC, cmd.argv)
    res = await a.crash_evidence(inp())
    assert [s.name for s in res.sources] == ["service.log", "dmesg.log", "syslog", "app.log"]
    assert sorted(p.name for p in (tmp_path / "logs" / f"crash_{STAMP}").iterdir()) == [
        "app.log",
        "dmesg.log",
        "service.log",
        "syslog",
    ]


def test_bad_crash_dump_config_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute path"):
        CrashDumpSpec(dir="logs")
    with pytest.raises(ValueError, match="not one of"):
        CrashDumpSpec(patterns={"cosmic_ray": "x"})
    with pytest.raises(ValueError, match="plain file name"):
        CrashDumpSpec(sources={"../etc/passwd": ["true"]})


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("kernel: Out of memory: Killed process 4242 (python3)", "oom_killer"),
        ("systemd[1]: app.service: Failed with result 'oom-kill'.", "oom_killer"),
        ("kernel: python3[4242]: segfault at 0 ip 0 sp 0 error 4", "segmentation_fault"),
        ("bash: line 1: 42 Segmentation fault (core dumped) ./app", "segmentation_fault"),
        ("ImportError: libssl.so.3: cannot open shared object file", "dependency_missing"),
        ("yaml.scanner.ScannerError: mapping values are not allowed here", "configuration_error"),
        ("app.service: Main process exited, code=exited, status=78/CONFIG", "configuration_error"),
        ("Traceback (most recent call last):", "unhandled_exception"),
        ("INFO all good", "unknown"),
    ],
)
def test_the_runbooks_five_reasons(line: str, reason: str) -> None:
    assert classify(["INFO before", line])[0] == reason


def test_the_first_reason_in_order_wins() -> None:
    # An OOM-killed worker also leaves a traceback in its parent: the OOM is the cause.
    text = "Traceback (most recent call last):\nkernel: Out of memory: Killed process 1\n"
    assert classify([text]) == ("oom_killer", "kernel: Out of memory: Killed process 1")
