"""StreamingFailure (Agent Lab, P2), one test per branch, on the time-skipping server at
real durations: the 60 s probe retries, the 30 s after each restart, the 10-minute SLI
window, the Recovery budget (60 minutes after detection)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.workflows.agentlab_world import LabWorld, lab_policy, run_lab
from tests.workflows.sli_harness import near, steps

PB = "StreamingFailure"


async def test_disabled_recovers_then_re_enabled_and_verified(
    time_env: WorkflowEnvironment,
) -> None:
    w = LabWorld(lab_policy(), stream_ok=[False, False, False, True, True], sli=[0.995])
    res = await run_lab(time_env, w, PB)
    assert res.outcome == "resolved", steps(res)
    assert res.action == "streaming disabled, recovered, re-enabled"
    names = w.names()
    assert names.index("diag:stream_errors") < names.index("stream")  # logs, then the probe
    assert w.applied == ["disable_streaming"] and w.restored == ["disable_streaming"]
    # Streaming off (with its restart), retried every 60 s until it passes.
    probes = w.times("stream")
    assert probes[0] < w.times("mitigation")[0] < probes[1]
    retries = probes[1:4]
    assert all(
        near(b - a, timedelta(seconds=60), timedelta(seconds=1))
        for a, b in zip(retries, retries[1:], strict=False)
    )
    # Re-enabled (and restarted, as disabling needed one), then verified: probe + SLI.
    restore_at = w.times("restore")[0]
    assert probes[3] < restore_at < w.times("restart")[1] < probes[4]
    assert probes[4] - w.times("restart")[1] >= timedelta(seconds=30)
    samples = w.times("prometheus")
    assert samples[0] > probes[4] and near(samples[-1] - samples[0], timedelta(minutes=10))
    assert "retry streaming probe #1" in steps(res, "failed")


async def test_never_recovers_escalates_with_streaming_still_disabled(
    time_env: WorkflowEnvironment,
) -> None:
    w = LabWorld(lab_policy(), stream_ok=[False])
    res = await run_lab(time_env, w, PB)
    assert res.outcome == "escalated" and res.paged
    assert w.restored == []  # streaming stays off while a person takes over
    last_probe = w.times("stream")[-1]
    assert timedelta(minutes=59) <= last_probe - res.detected_at <= timedelta(minutes=60)
    why = next(e.detail for e in res.timeline if e.step == "escalated to a human")
    assert why == "streaming endpoint still failing; streaming stays disabled"


async def test_fails_verification_after_re_enable_disables_again(
    time_env: WorkflowEnvironment,
) -> None:
    w = LabWorld(lab_policy(), stream_ok=[False, True, True], sli=[0.5])
    res = await run_lab(time_env, w, PB)
    assert res.outcome == "escalated"
    assert w.applied == ["disable_streaming", "disable_streaming"] and w.restored == [
        "disable_streaming"
    ]
    again = [c.detail for c in w.calls if c.name == "mitigation"][1]
    assert again == f"disable_streaming|{res.run_key}:again"  # a fresh key: it really runs
    assert "verify streaming_continuity" in steps(res, "failed")


async def test_probe_passes_and_alert_resolved_no_action(time_env: WorkflowEnvironment) -> None:
    w = LabWorld(lab_policy(), stream_ok=[True])
    res = await run_lab(time_env, w, PB, status="resolved")
    assert res.outcome == "resolved_without_action" and w.applied == []


async def test_no_streaming_endpoint_escalates(time_env: WorkflowEnvironment) -> None:
    w = LabWorld(lab_policy(agent_lab={"has_streaming_probe": False}))
    res = await run_lab(time_env, w, PB)
    assert res.outcome == "escalated" and w.applied == [] and "stream" not in w.names()


async def test_network_checked_from_the_host_during_investigation(
    time_env: WorkflowEnvironment,
) -> None:
    # "Network Connectivity": ping then mtr to the upstream, after the log grep, before
    # the streaming probe -- all inside Investigation (15 minutes after detection).
    w = LabWorld(lab_policy(), stream_ok=[True])
    res = await run_lab(time_env, w, PB, status="resolved")
    calls = [(c.name, c.detail) for c in w.calls if c.name.startswith("diag:")]
    assert calls == [("diag:stream_errors", ""), ("diag:network", "ping"), ("diag:network", "mtr")]
    names = w.names()
    assert names.index("diag:stream_errors") < names.index("diag:network") < names.index("stream")
    got = {e.step: e for e in res.timeline}
    assert "0% packet loss" in got["diagnosis: network ping"].detail
    assert got["diagnosis: network mtr"].outcome == "ok"
    assert w.times("diag:network")[-1] - res.detected_at < timedelta(minutes=15)


async def test_no_network_target_is_said_and_the_probe_still_runs(
    time_env: WorkflowEnvironment,
) -> None:
    w = LabWorld(lab_policy(agent_lab={"network": []}), stream_ok=[True])
    res = await run_lab(time_env, w, PB, status="resolved")
    assert "diag:network" not in w.names() and "stream" in w.names()
    assert "diagnosis: network" in steps(res, "skipped")


async def test_upstream_stream_probed_during_investigation(time_env: WorkflowEnvironment) -> None:
    # "Check OpenRouter streaming endpoints": after the network checks, before the
    # service's own streaming probe, inside Investigation; the timeline says how the
    # request authenticated (the key's variable name), never the key.
    w = LabWorld(lab_policy(agent_lab={"has_upstream_stream": True}), stream_ok=[True])
    res = await run_lab(time_env, w, PB, status="resolved")
    names = w.names()
    assert names.index("diag:network") < names.index("upstream_stream") < names.index("stream")
    e = next(e for e in res.timeline if e.step == "diagnosis: upstream streaming")
    assert e.outcome == "ok" and "4 chunks" in e.detail
    assert e.detail.endswith("(Bearer key from $OPENROUTER_API_KEY)")
    assert w.times("upstream_stream")[0] - res.detected_at < timedelta(minutes=15)


async def test_upstream_stream_failing_is_a_finding_not_a_decision(
    time_env: WorkflowEnvironment,
) -> None:
    # The upstream refuses the stream (no key): recorded as failed, and the playbook goes
    # on as before -- disable, retry, re-enable, verify.
    w = LabWorld(
        lab_policy(agent_lab={"has_upstream_stream": True}),
        upstream_stream_ok=False,
        stream_ok=[False, True, True],
        sli=[0.995],
    )
    res = await run_lab(time_env, w, PB)
    e = next(e for e in res.timeline if e.step == "diagnosis: upstream streaming")
    assert e.outcome == "failed" and "401" in e.detail and "no key" in e.detail
    assert res.outcome == "resolved" and w.applied == ["disable_streaming"]


async def test_no_upstream_stream_configured_is_said(time_env: WorkflowEnvironment) -> None:
    w = LabWorld(lab_policy(), stream_ok=[True])
    res = await run_lab(time_env, w, PB, status="resolved")
    assert "upstream_stream" not in w.names()
    e = next(e for e in res.timeline if e.step == "diagnosis: upstream streaming")
    assert (e.outcome, e.detail) == ("skipped", "no agent_lab.upstream_stream in the inventory")
