"""Inputs and results of the bench-only workflows (bench/workflows.py). A separate module
so the workflow sandbox passes them through instead of re-creating the classes."""

from __future__ import annotations

from pydantic import BaseModel

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


class HostTiming(BaseModel):
    host: str
    seconds: float
    ok: bool
