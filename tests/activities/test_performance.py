"""activities/performance.py over the real test sshd: the access log's slow requests
(nginx combined format with $request_time last, and a millisecond format), read with an
allowlisted `tail`, analysed on the worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.inventory import ServiceSpec
from activities.performance import PerformanceActivities
from tests.fixtures.sshd import HOST_NAME, SshServer
from workflows.contracts.performance import AccessLogFormat, SlowRequestsInput
from workflows.contracts.policy import AgentLabSpec


def line(path: str, t: str, ip: str = "198.51.100.4") -> str:
    return f'{ip} - - [06/Dec/2026:07:00:00 +0000] "GET {path} HTTP/1.1" 200 512 "-" "ab" {t}'


LOG = (
    [line("/api/agents?page=2", "2.500")] * 6
    + [line("/api/agents", "1.000")] * 2  # at the threshold: slow
    + [line("/api/models", "1.200")] * 3
    + [line("/health", "0.004")] * 88
    + ["garbage line", line("/api/runs", "-")]  # no response time: not timed
)


def acts(
    sshd: SshServer, tmp: Path, fmt: dict[str, object], text: list[str]
) -> PerformanceActivities:
    log = tmp / "access.log"
    log.write_text("\n".join(text) + "\n")
    lab = AgentLabSpec(access_log=AccessLogFormat(path=str(log), **fmt))  # type: ignore[arg-type]
    svc = ServiceSpec(hosts=[HOST_NAME], agent_lab=lab)
    return PerformanceActivities(sshd.inventory({"agent-lab": svc}))


async def test_slow_requests_by_endpoint(sshd: SshServer, tmp_path: Path) -> None:
    a = acts(sshd, tmp_path, {}, LOG)
    r = await a.slow_requests(SlowRequestsInput(service="agent-lab", slow_s=1.0, top=5))
    assert (r.lines, r.timed, r.slow) == (101, 99, 11)
    assert [(e.endpoint, e.slow, e.worst_s) for e in r.top] == [
        ("/api/agents", 8, 2.5),  # query string dropped: one endpoint
        ("/api/models", 3, 1.2),
    ]
    assert r.p95_s == 2.5 and r.top_share(1) == pytest.approx(8 / 11)  # 95th of 99: 2.5


async def test_millisecond_field_and_tail_bound(sshd: SshServer, tmp_path: Path) -> None:
    # A format with the time in ms as field 10; only the last max_lines lines are read.
    text = [f"GET /slow 200 x y z a b c {ms}" for ms in (5000, 5000, 20, 30)]
    fmt = {"time_field": 10, "time_unit": "ms", "endpoint_field": 2, "max_lines": 3}
    a = acts(sshd, tmp_path, fmt, text)
    r = await a.slow_requests(SlowRequestsInput(service="agent-lab", slow_s=1.0))
    assert (r.lines, r.slow) == (3, 1) and r.top[0].endpoint == "/slow"
    assert r.top[0].worst_s == 5.0


async def test_unreadable_log_and_allowlist(sshd: SshServer, tmp_path: Path) -> None:
    a = acts(sshd, tmp_path, {}, LOG)
    (tmp_path / "access.log").unlink()
    with pytest.raises(ApplicationError) as err:
        await a.slow_requests(SlowRequestsInput(service="agent-lab", slow_s=1.0))
    assert err.value.type == "LogUnreadable"
    # An explicit allowlist without the tail: refused before anything is sent.
    svc = a.inventory.service("agent-lab")
    narrow = svc.model_copy(update={"allowed_commands": [["true"]]})
    refused = PerformanceActivities(sshd.inventory({"agent-lab": narrow}))
    with pytest.raises(ApplicationError) as err:
        await refused.slow_requests(SlowRequestsInput(service="agent-lab", slow_s=1.0))
    assert err.value.type == "CommandNotAllowed"
