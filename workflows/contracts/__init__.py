"""Typed contracts between workflows and activities, one module per system touched.

    base        Strict (inventory sections) and Activity (one declared activity)
    policy      ServicePolicy: what a workflow may know of a service, and its parts
    ssh         a generic command result           service     status/restart/maintenance
    diagnostics read-only host checks              http        HTTP probes of a service
    prometheus  PromQL queries                     notify      Slack and PagerDuty
    records     incident log, post-mortems, earlier incidents
    testsuite   the test suite                     mitigation  inventory mitigations
    datafiles   data-integrity steps               security    evidence and containment
    ci          CI workflow dispatch               safety      approvals and the governor
    performance PerformanceDegradation's slow-request analysis (access log)

Import the module, not this package: `from workflows.contracts import service`.
"""

from __future__ import annotations

import importlib
from typing import Any

from workflows.contracts.base import Activity

SYSTEMS = (
    "ci",
    "datafiles",
    "diagnostics",
    "http",
    "mitigation",
    "notify",
    "performance",
    "policy",
    "prometheus",
    "records",
    "safety",
    "security",
    "service",
    "ssh",
    "testsuite",
)


def declared_activities() -> dict[str, Activity[Any, Any]]:
    """Every activity the contract modules of SYSTEMS declare, by name (not whatever
    else declared one in this process: bench/ has its own)."""
    out: dict[str, Activity[Any, Any]] = {}
    for name in SYSTEMS:
        module = importlib.import_module(f"workflows.contracts.{name}")
        out |= {v.name: v for v in vars(module).values() if isinstance(v, Activity)}
    return out
