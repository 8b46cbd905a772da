"""Mitigations write real files on the test sshd host, keep a backup there, run once
per incident (keyed), and a restore puts the original back (or removes a new file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.inventory import RollbackSpec, ServiceSpec
from activities.mitigation import MitigationActivities
from tests.fixtures.sshd import HOST_NAME, SshServer
from workflows.contracts.mitigation import MitigationInput, MitigationSpec, TextReplace

LLM = "llm:\n  enabled: false  # Temporarily disable LLM\n  fallback_mode: heuristic\n"
LOGGING = "handlers: [file]\nlevel=DEBUG\napi_key: s3cr3t-value\nformat: level=DEBUG %(msg)s\n"


def acts(sshd: SshServer, repo: Path) -> MitigationActivities:
    svc = ServiceSpec(
        hosts=[HOST_NAME],
        rollback=RollbackSpec(repo_path=str(repo)),
        mitigations={
            "llm_fallback": MitigationSpec(path="config/llm_fallback.yaml", content=LLM),
            "logging_verbosity": MitigationSpec(
                path="config/logging.yaml",
                replace=TextReplace(old="level=DEBUG", new="level=INFO"),
                restart=False,
            ),
        },
    )
    return MitigationActivities(sshd.inventory({"genesis": svc}))


def inp(name: str, incident: str = "incident:HighErrorRate:genesis") -> MitigationInput:
    return MitigationInput(service="genesis", name=name, incident_id=incident)


async def test_new_file_written_then_removed_by_restore(sshd: SshServer, tmp_path: Path) -> None:
    a = acts(sshd, tmp_path)
    target = tmp_path / "config" / "llm_fallback.yaml"
    res = await a.apply(inp("llm_fallback"))
    assert res.changed and res.restart and not res.replayed
    assert target.read_text() == LLM
    backup = Path(res.backup)
    assert (backup / "absent").exists() and (backup / "path").read_text().strip() == str(target)
    # A retried activity (same incident, same name) does not write again: it replays.
    target.write_text("edited by a human meanwhile\n")
    again = await a.apply(inp("llm_fallback"))
    assert again.replayed and again.changed
    assert target.read_text() == "edited by a human meanwhile\n"
    undone = await a.restore(inp("llm_fallback"))
    assert undone.changed and not target.exists()  # it did not exist before the mitigation


async def test_replace_keeps_backup_and_restore_puts_it_back(
    sshd: SshServer, tmp_path: Path
) -> None:
    a = acts(sshd, tmp_path)
    (tmp_path / "config").mkdir()
    target = tmp_path / "config" / "logging.yaml"
    target.write_text(LOGGING)
    target.chmod(0o640)
    res = await a.apply(inp("logging_verbosity"))
    assert res.changed and not res.restart  # the runbook's sed: no restart
    # Edited on the host: the secret-looking line is untouched (never redacted).
    assert target.read_text() == LOGGING.replace("level=DEBUG", "level=INFO")
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert (Path(res.backup) / "original").read_text() == LOGGING
    undone = await a.restore(inp("logging_verbosity"))
    assert undone.changed and target.read_text() == LOGGING


async def test_nothing_to_replace_is_unchanged(sshd: SshServer, tmp_path: Path) -> None:
    a = acts(sshd, tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "logging.yaml").write_text("level=INFO\n")
    res = await a.apply(inp("logging_verbosity", "incident:other"))
    assert not res.changed and not res.restart and "unchanged" in res.detail


async def test_unknown_mitigation_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    with pytest.raises(ApplicationError) as err:
        await acts(sshd, tmp_path).apply(inp("rm -rf /"))
    assert err.value.type == "CommandNotConfigured" and err.value.non_retryable
