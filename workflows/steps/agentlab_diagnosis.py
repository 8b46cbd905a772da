"""Agent Lab read-only steps: the runbook's investigation commands
(resources, error grep, dependencies, port). Each records what it saw under a
`diagnosis:` step (the post-mortem's root-cause section reads those) and never stops
the playbook: a diagnosis that fails is a fact for the humans, not a reason to stall
a P0 restart.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.diagnostics import (
        AGENTLAB_DIAGNOSE,
        DiagnoseInput,
        DiagnoseResult,
        DiagnosticKind,
    )
    from workflows.contracts.http import (
        AGENTLAB_UPSTREAM,
        HTTP_PROBE,
        AgentLabProbeInput,
        HttpProbeInput,
    )
    from workflows.incident import Incident, StepFailed
    from workflows.steps import recovery

HEALTH_TIMEOUT_S = 10.0  # curl -f --max-time 10 .../health


# ---------------------------------------------------------------- checks
async def health(inc: Incident, step: str = "health check (10 s timeout)") -> bool:
    """`curl -f --max-time 10 .../health`; without a health URL, the status command."""
    if not inc.policy.has_health_url:
        return await recovery.is_active(inc, f"{step}: no health_url, status command")
    res = await inc.attempt(
        step,
        HTTP_PROBE,
        HttpProbeInput(service=inc.service, timeout_s=HEALTH_TIMEOUT_S),
    )
    if res is None:
        return False
    inc.record(step, "ok" if res.ok else "failed", f"{res.url} -> {res.status_code or res.error}")
    return res.ok


async def _diagnose(
    inc: Incident, step: str, kind: DiagnosticKind, name: str = ""
) -> DiagnoseResult | None:
    res = await inc.attempt(
        step,
        AGENTLAB_DIAGNOSE,
        DiagnoseInput(service=inc.service, kind=kind, name=name),
    )
    if res is None:
        return None
    body = f"{res.detail}\n{res.output}".strip() + (" (truncated)" if res.truncated else "")
    inc.record(step, "ok" if res.ok else "failed", body)
    return res


async def resources(inc: Incident) -> list[str]:
    """`top -b -n1 | head -20`, `df -h`, `free -h` (the inventory's resource commands).
    Returns what their outputs show exhausted (a full disk, memory all but used up),
    for Application Down's "Scale Resources (if resource exhaustion)"."""
    exhausted: list[str] = []
    for name in inc.policy.agent_lab.resources:
        res = await _diagnose(inc, f"diagnosis: resources {name}", "resource", name)
        if res is not None and res.exhausted:
            exhausted.append(f"{name}: {res.exhausted}")
    return exhausted


async def network(inc: Incident) -> None:
    """Streaming Failure "Network Connectivity", from the host: `ping -c 10 <upstream>`,
    `mtr -c 10 <upstream>` (the inventory's network checks). Loss or an unreachable
    upstream is a fact in the timeline for the humans, not a branch."""
    names = inc.policy.agent_lab.network
    if not names:
        inc.record("diagnosis: network", "skipped", "no network_target or upstream_url")
    for name in names:
        await _diagnose(inc, f"diagnosis: network {name}", "network", name)


async def grep(inc: Incident, kind: DiagnosticKind) -> DiagnoseResult | None:
    """`grep -i error LOG | tail -20` (log_errors) or `grep -i "stream|chunk|disconnect"`
    (stream_errors), over the service's log files."""
    if not inc.policy.agent_lab.has_log_grep:
        inc.record(f"diagnosis: {kind}", "skipped", "no log_files in the inventory")
        return None
    return await _diagnose(inc, f"diagnosis: {kind.replace('_', ' ')}", kind)


async def dependencies(inc: Incident) -> None:
    """Verify Dependencies: the upstream API answers; the data dir and its files read."""
    lab = inc.policy.agent_lab
    if lab.has_upstream:
        try:
            res = await inc.act(
                "diagnosis: upstream API",
                AGENTLAB_UPSTREAM,
                AgentLabProbeInput(service=inc.service),
            )
            inc.record(
                "diagnosis: upstream API",
                "ok" if res.ok else "failed",
                f"{res.url} -> {res.status_code or res.error}",
            )
        except StepFailed:
            pass
    else:
        inc.record("diagnosis: upstream API", "skipped", "no upstream_url in the inventory")
    if lab.has_data_dir:
        await _diagnose(inc, "diagnosis: data dir", "data_dir")
    else:
        inc.record("diagnosis: data dir", "skipped", "no data_dir in the inventory")


async def port(inc: Incident) -> bool | None:
    """`netstat -tlnp | grep :7860`: is the app's port listening? None: can't tell."""
    lab = inc.policy.agent_lab
    if lab.port is None:
        inc.record("diagnosis: port listening", "skipped", "no agent_lab.port in the inventory")
        return None
    res = await _diagnose(inc, f"diagnosis: port {lab.port} listening", "port")
    return res.listening if res else None
