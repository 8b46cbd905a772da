"""`services.X.slis` -- a PromQL query and the threshold it is held to."""

from __future__ import annotations

from pydantic import Field

from workflows.contracts.base import Strict


class SliSpec(Strict):
    query: str
    comparison: str = Field(pattern="^(lt|le|gt|ge)$")
    threshold: float
