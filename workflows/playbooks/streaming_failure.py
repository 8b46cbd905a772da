"""StreamingFailure (Agent Lab playbook, P2)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.http import AGENTLAB_UPSTREAM_STREAM, AgentLabProbeInput
    from workflows.contracts.mitigation import MITIGATION_APPLY, MitigationInput
    from workflows.coverage import AGENT_LAB, automated, declare, deviation, not_applicable
    from workflows.incident import patched
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import agentlab_diagnosis as diag
    from workflows.steps import agentlab_recovery as lab
    from workflows.steps import mitigation, notify, phases, recovery, safety, verify
    from workflows.steps.resolution import close, escalate

# The service's SLI for "Streaming continuity SLO" (inventory `slis:`), if it has one.
STREAMING_SLI = "streaming_continuity"
# workflow.patched id: incidents started before it ran no ping/mtr from the host.
NETWORK_CHECKS = "stream-network"
# workflow.patched id: incidents started before it did not probe the upstream's stream.
UPSTREAM_STREAM = "stream-upstream-probe"


@workflow.defn(name="StreamingFailure")
class StreamingFailure(Playbook):
    """Agent Lab "Playbook: Streaming Failure" (P2).

    Investigation: stream errors in the logs (`grep -i "stream|chunk|disconnect"`), the
    network to the upstream from the host (`ping -c 10`, `mtr -c 10`), the upstream's
    streaming endpoint (the runbook's `curl -N -X POST`, Bearer key from the worker's
    environment), the service's streaming endpoint probed as a stream. Containment:
    disable streaming (the named inventory mitigation; restart if it asks for one).
    Recovery: retry the streaming probe until it passes or the Recovery budget ends; then
    re-enable streaming and verify -- the probe, and the streaming SLI sustained where
    configured. Verification follows the re-enable on purpose: with streaming off, a
    continuity SLI measures nothing. If it fails, streaming is disabled again and a
    person takes over.
    """

    playbook = "StreamingFailure"
    clock = phases.agent_lab(lambda p: p.agent_lab.budgets.streaming_failure)

    @workflow.run
    @safety.escalates_when_refused  # a mitigation/restart not approved in time
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        policy = await self.detect(inp)
        cfg, budgets = policy.agent_lab, policy.agent_lab.budgets.streaming_failure
        await notify.status_update(self, "Active", "alert received", "check streaming")

        self.enter(Phase.ASSESSMENT)  # Investigation
        await diag.grep(self, "stream_errors")
        if patched(NETWORK_CHECKS):
            await diag.network(self)  # "Network Connectivity": ping, mtr from the host
        if patched(UPSTREAM_STREAM):
            await self.upstream_stream()  # "Check OpenRouter streaming endpoints"
        if not cfg.has_streaming_probe:
            return await escalate(self, "no streaming endpoint configured to verify with")
        first = await lab.stream_probe(self, "streaming probe")
        if first is not None and first.ok and not self.alert_firing:
            return await close(self, "resolved_without_action", "none (streaming recovered)")

        self.enter(Phase.RESPONSE)  # Containment
        applied = await mitigation.apply(self, [cfg.streaming_mitigation])
        await notify.status_update(
            self,
            "Investigating",
            f"streaming disabled: {', '.join(applied) or 'not possible'}",
            "retry the streaming probe until it recovers",
        )

        self.enter(Phase.VERIFICATION)  # Recovery
        give_up = self.detected_at + budgets[Phase.VERIFICATION]
        if not await lab.retry_stream_probe(self, give_up, cfg.stream_retry_interval):
            kept = "; streaming stays disabled" if applied else ""
            return await escalate(self, f"streaming endpoint still failing{kept}")
        if applied:
            await self.re_enable(applied)
        if await self.verified():
            action = "streaming disabled, recovered, re-enabled" if applied else "recovered"
            return await close(self, "resolved", action)
        if applied:
            await self.disable_again()
        return await escalate(self, "streaming failed verification after re-enabling it")

    async def upstream_stream(self) -> None:
        """The runbook's streaming `curl -N -X POST` to the upstream, with the Bearer key
        the worker holds (the activity reads it; history only learns how it
        authenticated). A finding for people: it does not change what Remedy does."""
        step = "diagnosis: upstream streaming"
        if not self.policy.agent_lab.has_upstream_stream:
            self.record(step, "skipped", "no agent_lab.upstream_stream in the inventory")
            return
        r = await self.attempt(
            step, AGENTLAB_UPSTREAM_STREAM, AgentLabProbeInput(service=self.service)
        )
        if r is None:
            return
        got = f"{r.url} -> {r.status_code}, {r.chunks} chunks, {r.bytes} bytes in {r.duration_s:g}s"
        why = f"; {r.error}" if r.error else ""
        self.record(step, "ok" if r.ok else "failed", f"{got}{why} ({r.auth})")

    async def re_enable(self, applied: list[str]) -> None:
        """Restore the config; restart once more if disabling it needed a restart (the
        app reads the flag at start), then give it the runbook's 30 s."""
        await mitigation.undo(self, applied)
        if any(e.step == "restart after mitigation" for e in self.timeline):
            if await recovery.restart(self, "restart after re-enabling streaming"):
                await self.sleep(self.policy.waits.after_restart)

    async def verified(self) -> bool:
        res = await lab.stream_probe(self, "verify streaming probe")
        if res is None or not res.ok:
            return False
        sli = self.policy.slis.get(STREAMING_SLI)
        if sli is None:
            self.record(f"verify {STREAMING_SLI}", "skipped", "no such SLI in the inventory")
            return True
        w = self.policy.waits
        return (await verify.sustained(self, sli, w.verify_window, w.verify_interval)).held

    async def disable_again(self) -> None:
        # A fresh key: the first apply's key would replay (and skip) the write.
        name = self.policy.agent_lab.streaming_mitigation
        step = f"mitigation: {name} (again)"
        res = await self.attempt(
            step,
            MITIGATION_APPLY,
            MitigationInput(service=self.service, name=name, incident_id=f"{self.run_key}:again"),
        )
        if res is None:
            return
        self.record(step, "skipped" if res.dry_run else "ok", res.detail)
        if res.restart and await recovery.restart(self, "restart after disabling again"):
            await self.sleep(self.policy.waits.after_restart)


# Runbook coverage (remedy/coverage.py, `remedy coverage`): data only, never run.

_INV, _CON = "Investigation (5-15 minutes)", "Containment (15-30 minutes)"
_REC, _POST = "Recovery (30-60 minutes)", "Post-Incident Actions"
COVERAGE = declare(
    "StreamingFailure",
    AGENT_LAB,
    "Playbook: Streaming Failure (P2)",
    [
        automated(
            _INV,
            "Check Streaming Logs",
            "steps/agentlab_diagnosis.grep('stream_errors'), agentlab_recovery.stream_probe, "
            "StreamingFailure.upstream_stream (agent_lab.upstream_stream, "
            "upstream_api_key_env)",
        ),
        automated(
            _INV,
            "Network Connectivity",
            "steps/agentlab_diagnosis.network (agent_lab.network: ping, mtr from the host)",
        ),
        deviation(
            _INV,
            "Network Connectivity",
            "workflows/contracts/policy.network_checks",
            "mtr runs with --report (no terminal over SSH); the target is the upstream_url "
            "host unless agent_lab.network_target names another",
        ),
        not_applicable(
            _INV,
            "Client-Side Issues",
            "the browser console and Gradio code are a person's to read",
        ),
        automated(
            _CON,
            "Disable Streaming Temporarily",
            "steps/mitigation.apply (agent_lab.streaming_mitigation)",
        ),
        not_applicable(
            _CON,
            "Implement Retry Logic",
            "a code change to the application, not an incident action",
        ),
        not_applicable(
            _CON,
            "Reduce Chunk Size",
            "a code change to the application, not an incident action",
        ),
        automated(
            _REC,
            "Test Streaming Recovery",
            "steps/agentlab_recovery.retry_stream_probe",
        ),
        deviation(
            _REC,
            "Test Streaming Recovery",
            "agent_lab.stream_retry_interval",
            "the probe is retried every 60 s until the Recovery budget ends: the "
            "interval is Remedy's",
        ),
        automated(
            _REC,
            "Gradual Rollout",
            "StreamingFailure.re_enable",
            "re-enabled for everyone at once, disabled again if verification fails",
        ),
        automated(
            _REC,
            "Performance Monitoring",
            "StreamingFailure.verified (streaming_continuity SLI sustained)",
        ),
        # Post-Incident Actions: asked of people at close, declared in steps/followups.py.
    ],
)
