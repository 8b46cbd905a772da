"""Which playbook an alert starts, for which service, under which workflow id.

Labels *select* (DESIGN principle 4): the alertname selects a route, the service label
selects an inventory entry. A label that selects nothing known sends the alert to the
Triage playbook (diagnose where possible, page a human) -- never dropped, never acted
on blindly. Label values only ever become data (the workflow input) and a sanitized
part of the workflow id; nothing here or downstream pastes them into a command.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Collection
from dataclasses import dataclass

from activities.inventory import Inventory
from bridge.models import WebhookAlert
from workflows import severity
from workflows.models import Alert, Severity
from workflows.registry import ROUTABLE, ROUTES
from workflows.text import md, md_code

TRIAGE = "Triage"
ID_PREFIX = "incident"
# What a workflow id part may hold verbatim: safe in a shell, a URL and the Temporal UI,
# and free of ':' so `incident:<alertname>:<service>` splits unambiguously.
_SAFE_CHARS = frozenset(string.ascii_letters + string.digits + "._-")
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,100}")
_MAX_PART = 100  # an encoded part longer than this is shortened (see safe_id_part)
_KEEP = 60  # of a shortened part, this much encoded text is kept before the hash
EMPTY_PART = "~"  # the part for an absent (empty) value


def _percent(raw: str) -> str:
    """Percent-encode every character outside `_SAFE_CHARS` (UTF-8 bytes; `%` itself is
    encoded too, so the encoding is reversible). Lone surrogates (valid in JSON strings)
    are encoded as their code units rather than failing."""
    out: list[str] = []
    for ch in raw:
        if ch in _SAFE_CHARS:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


def safe_id_part(raw: str) -> str:
    """`raw` as a workflow id part, distinct raw values giving distinct parts.

    A value of 1-100 characters from `[A-Za-z0-9._-]` is kept as it is (so ids of open
    incidents stay the same); anything else is percent-encoded (`a b` -> `a%20b`). The
    three forms never overlap, which makes the whole encoding injective:

    * encoded, at most 100 chars: only safe characters and `%XX` -- never a `~`;
    * longer: the first 60 chars of the encoding, `~`, and the SHA-256 of the raw value
      (32 hex digits: as collision-free as a 128-bit hash);
    * empty (no such label): `~` alone.
    """
    if _SAFE.fullmatch(raw):
        return raw
    if not raw:
        return EMPTY_PART
    encoded = _percent(raw)
    if len(encoded) <= _MAX_PART:
        return encoded
    head = encoded[:_KEEP]
    cut = head.rfind("%", len(head) - 2)  # do not end inside a %XX escape
    if cut >= 0:
        head = head[:cut]
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{head}~{digest}"


def incident_id(alertname: str, service: str) -> str:
    return f"{ID_PREFIX}:{safe_id_part(alertname)}:{safe_id_part(service)}"


def _short(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


@dataclass(frozen=True)
class Route:
    playbook: str
    alertname: str
    service: str  # the raw label value ("" when absent): data for the record only
    workflow_id: str
    reason: str


class Router:
    """alertname -> playbook through `inventory.routes` over the registry's defaults."""

    def __init__(
        self,
        inventory: Inventory,
        service_label: str = "service",
        playbooks: Collection[str] | None = None,
    ) -> None:
        self.services = set(inventory.services)
        self.routes = {**ROUTES, **inventory.routes}
        self._from_inventory = set(inventory.routes)
        self.service_routes = {n: s.routes for n, s in inventory.services.items() if s.routes}
        self.service_label = service_label
        # Triage is always a valid target: it is where everything unknown goes.
        self.playbooks = set(ROUTABLE if playbooks is None else playbooks) | {TRIAGE}

    def route(self, labels: dict[str, str]) -> Route:
        alertname = labels["alertname"]
        service = labels.get(self.service_label, "")
        wid = incident_id(alertname, service)

        def triage(why: str) -> Route:
            return Route(TRIAGE, alertname, service, wid, f"{why}: triage")

        own = self.service_routes.get(service, {})
        playbook = own.get(alertname) or self.routes.get(alertname)
        if playbook is None:
            return triage(f"no route for alertname {_short(alertname)}")
        if playbook not in self.playbooks:
            return triage(f"route {alertname} -> {playbook}, but no such playbook is registered")
        if not service:
            return triage(f"alert has no {self.service_label!r} label")
        if service not in self.services:
            return triage(f"service {_short(service)} is not in the inventory")
        source = (
            f"service {service}"
            if alertname in own
            else "inventory"
            if alertname in self._from_inventory
            else "default"
        )
        return Route(playbook, alertname, service, wid, f"{source} route {alertname} -> {playbook}")


def severity_of(labels: dict[str, str]) -> Severity | None:
    """The alert's `severity` label as a runbook priority: P0..P4 as they are,
    critical/error/warning/info/none by the table in workflows/severity.py (README,
    "Severity"); anything else is None and the workflow decides (runbook, inventory)."""
    return severity.from_label(labels.get("severity"))


def to_alert(alert: WebhookAlert, route: Route) -> Alert:
    return Alert(
        alertname=route.alertname,
        service=route.service,
        status=alert.status,
        severity=severity_of(alert.labels),
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        fingerprint=alert.identity,
    )


def ui_summary(alert: Alert, route: Route, flapping: bool = False) -> tuple[str, str]:
    """The incident's static summary (one line) and details (markdown) for the Temporal
    UI. They go through the data converter like any payload (encrypted when
    REMEDY_CODEC_KEYS is set; the UI then reads them through the codec server):
    names and the alert's own summary only. Both are Markdown to the UI, so every value
    taken from the alert (labels, annotations, and the route reason, which quotes them)
    is escaped (workflows/text.py: `md`, or `md_code` for a code span); the workflow id is
    encoded to safe characters only (`safe_id_part`)."""
    severity = alert.severity.value if alert.severity else "service default"
    summary = f"{md(alert.alertname)} on {md(alert.service or '?')} ({md(severity)})"
    what = alert.annotations.get("summary", "")
    lines = [
        f"**{md(route.playbook)}** incident `{route.workflow_id}`",
        "",
        f"- service: {md_code(alert.service or '-')}",
        f"- alert: {md_code(alert.alertname)}",
        f"- severity: {md(severity)}",
        *([f"- summary: {md(what[:300])}"] if what else []),
        *(["- **flapping**: diagnose and page, no repeated action"] if flapping else []),
        f"- route: {md(route.reason)}",
        "",
        "Live phase and outcome: *current details* and the `RemedyPhase` search attribute.",
    ]
    return summary + (" · flapping" if flapping else ""), "\n".join(lines)
