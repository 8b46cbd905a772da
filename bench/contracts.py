"""Inputs and results of the bench-only workflows (bench/workflows.py). A separate module
so the workflow sandbox passes them through instead of re-creating the classes."""

from __future__ import annotations

from pydantic import BaseModel

from workflows import policies
from workflows.contracts.base import Activity
from workflows.contracts.ssh import CommandResult

SAMPLE_WINDOW = "bench.sample_window"


class VerifyInput(BaseModel):
    window_s: float = 600.0
    interval_s: float = 30.0
    query: str = "bench:error_rate"
    threshold: float = 0.001


class SamplerResult(BaseModel):
    held: bool
    samples: int
    lateness_ms: list[float]  # actual sample time minus its slot on the fixed schedule


class FanoutInput(BaseModel):
    hosts: list[str]
    argvs: list[list[str]]  # run in order on each host; hosts in parallel


class BenchDiagnoseInput(BaseModel):
    """One read-only command on a bench host, checked against the bench service's
    allowlist (the inventory bench/fanout.py writes lists the five argvs exactly)."""

    service: str
    host: str
    argv: list[str]


class HostTiming(BaseModel):
    host: str
    seconds: float
    ok: bool


# The fan-out's activity (bench/worker.py): Remedy's worker has no generic command path,
# so the benchmark declares its own, checked like every SSH command.
BENCH_DIAGNOSE = Activity("bench.diagnose", BenchDiagnoseInput, CommandResult, policies.DIAGNOSTIC)
