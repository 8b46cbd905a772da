"""activities/agentlab_diagnostics.py against a real sshd (a real log file, a real git
repo, real commands) and a real HTTP server on loopback standing in for the upstream API."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.agentlab_diagnostics import AgentLabDiagnosticsActivities
from activities.inventory import CommandSpec, ServiceSpec
from tests.fixtures.gitrepo import commit, git
from tests.fixtures.httpsink import HttpSink, SinkResponse
from tests.fixtures.sshd import HOST_NAME, SshServer
from workflows.contracts.diagnostics import ErrorGroupsInput, RecentChangesInput
from workflows.contracts.http import UpstreamProbeInput
from workflows.contracts.service import DeployCommandInput

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


@pytest.fixture
def app_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "app"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    for i in range(12):
        commit(repo, {"app.py": f"VERSION = {i}\n"}, f"change {i}")
    return repo


def acts(
    sshd: SshServer, tmp_path: Path, repo: Path, **svc: object
) -> AgentLabDiagnosticsActivities:
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
    return AgentLabDiagnosticsActivities(sshd.inventory({"agent-lab": ServiceSpec(**spec)}))  # type: ignore[arg-type]


async def test_error_groups_counted_and_sorted(
    sshd: SshServer, tmp_path: Path, app_repo: Path
) -> None:
    res = await acts(sshd, tmp_path, app_repo).error_groups(
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
    res = await acts(sshd, tmp_path, app_repo).error_groups(ErrorGroupsInput(service="agent-lab"))
    text = " ".join(g.message for g in res.groups)
    assert "sk-secret-123" not in text and "[REDACTED]" in text
    # A log path with a space and a `$(...)` stays one literal argv word.
    odd = tmp_path / "we ird $(touch pwned)"
    odd.mkdir()
    (odd / "app.log").write_text(LOG)
    a = acts(sshd, tmp_path, app_repo, log_files=[str(odd / "app.log")])
    assert (await a.error_groups(ErrorGroupsInput(service="agent-lab"))).error_lines == 6
    assert not (Path.home() / "pwned").exists() and not (tmp_path / "pwned").exists()


async def test_unreadable_log_is_a_non_retryable_failure(
    sshd: SshServer, tmp_path: Path, app_repo: Path
) -> None:
    a = acts(sshd, tmp_path, app_repo, log_files=[str(tmp_path / "missing.log")])
    with pytest.raises(ApplicationError) as err:
        await a.error_groups(ErrorGroupsInput(service="agent-lab"))
    assert err.value.type == "LogUnreadable" and err.value.non_retryable
    assert "cannot read" in str(err.value)


async def test_recent_changes_is_git_log_oneline(
    sshd: SshServer, tmp_path: Path, app_repo: Path
) -> None:
    res = await acts(sshd, tmp_path, app_repo).recent_changes(
        RecentChangesInput(service="agent-lab", count=10)
    )
    assert len(res.commits) == 10
    head = git("log", "--oneline", "-1", cwd=app_repo)
    assert res.commits[0] == head and res.commits[0].endswith("change 11")
    assert res.commits[-1].endswith("change 2")


async def test_deploy_checks_startup_logs_import_smoke(
    sshd: SshServer, tmp_path: Path, app_repo: Path
) -> None:
    py = sys.executable
    a = acts(
        sshd,
        tmp_path,
        app_repo,
        import_check=CommandSpec(
            argv=[py, "-c", "import app; print('Import OK')"], cwd=str(app_repo)
        ),
        smoke_test=CommandSpec(argv=[py, "-c", "import sys; print('1 failed'); sys.exit(1)"]),
    )
    logs = await a.deploy_command(DeployCommandInput(service="agent-lab", kind="startup_logs"))
    assert logs.ok and len(logs.excerpt) == 3 and "[REDACTED]" in logs.excerpt[-1]
    imp = await a.deploy_command(DeployCommandInput(service="agent-lab", kind="import_check"))
    assert imp.ok and imp.excerpt == ["Import OK"]
    commit(app_repo, {"app.py": "import nonexistent_module\n"}, "bad deploy")
    imp = await a.deploy_command(DeployCommandInput(service="agent-lab", kind="import_check"))
    assert not imp.ok and "ModuleNotFoundError" in imp.excerpt[-1]
    smoke = await a.deploy_command(DeployCommandInput(service="agent-lab", kind="smoke_test"))
    assert smoke.exit_status == 1 and not smoke.ok and smoke.excerpt == ["1 failed"]
    # Not configured: a result that says so, nothing run.
    bare = acts(sshd, tmp_path, app_repo)
    none = await bare.deploy_command(DeployCommandInput(service="agent-lab", kind="smoke_test"))
    assert not none.configured and not none.ok


async def test_upstream_probes_timed_without_credentials(
    sshd: SshServer, tmp_path: Path, app_repo: Path, httpsink: HttpSink
) -> None:
    httpsink.script(200, 200, SinkResponse(503), SinkResponse(200, delay_s=0.3), 401)
    url = httpsink.url.replace("http://", "http://user:pw@") + "/api/v1/models?key=abc"
    a = acts(sshd, tmp_path, app_repo, upstream_probe_url=url)
    res = await ActivityEnvironment().run(a.upstream_probe, UpstreamProbeInput(service="agent-lab"))
    assert [s.status_code for s in res.samples] == [200, 200, 503, 200, 401]
    assert res.samples[3].latency_s is not None and res.samples[3].latency_s >= 0.3
    assert res.failing == 1 and res.healthy  # a 401 is an answer: the API is up
    assert len(httpsink.requests) == 5
    assert all(r.method == "GET" and r.path == "/api/v1/models?key=abc" for r in httpsink.requests)
    # Userinfo in the URL would become Basic auth: it is not the probe's to send.
    assert all("authorization" not in r.headers for r in httpsink.requests)
    assert "pw" not in res.url and "key=abc" not in res.url


async def test_upstream_down_is_unhealthy(sshd: SshServer, tmp_path: Path, app_repo: Path) -> None:
    from tests.fixtures.sshd import free_port

    a = acts(sshd, tmp_path, app_repo, upstream_probe_url=f"http://127.0.0.1:{free_port()}/")
    res = await ActivityEnvironment().run(
        a.upstream_probe, UpstreamProbeInput(service="agent-lab", attempts=3, timeout_s=2)
    )
    assert len(res.samples) == 3 and res.failing == 3 and not res.healthy
    assert all(s.status_code is None and "ConnectError" in s.error for s in res.samples)
