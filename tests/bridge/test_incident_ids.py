"""Incident ids are collision-free: distinct (alertname, service) values never share a
workflow id, and every id that was already safe is exactly what it was before (open
incidents keep deduplicating across the upgrade)."""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import yaml

from bridge.routing import incident_id, safe_id_part
from tests.bridge.helpers import PAYLOADS, payload_json
from workflows.registry import PLAYBOOKS, ROUTES

ROOT = Path(__file__).resolve().parents[2]
_OLD_SAFE = re.compile(r"[A-Za-z0-9._-]{1,100}")
_OLD_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")


def old_safe_id_part(raw: str) -> str:
    """bridge/routing.py before the fix, verbatim."""
    if _OLD_SAFE.fullmatch(raw):
        return raw
    cleaned = _OLD_UNSAFE_RUN.sub("_", raw)[:60].strip("_") or "_"
    return f"{cleaned}-{hashlib.sha256(raw.encode()).hexdigest()[:10]}"


def old_incident_id(alertname: str, service: str) -> str:
    return f"incident:{old_safe_id_part(alertname)}:{old_safe_id_part(service) if service else '_'}"


def real_names() -> tuple[set[str], set[str]]:
    """Service names and alertnames as they are really used: the inventories shipped in
    examples/, the registry's routes, and the recorded Alertmanager payloads (all but the
    hostile one, shell_metachar_service, whose id changes on purpose)."""
    services: set[str] = set()
    alertnames = set(ROUTES) | set(PLAYBOOKS)
    for inv in (ROOT / "examples" / "inventory.yaml", ROOT / "examples/demo/inventory.yaml"):
        data = yaml.safe_load(inv.read_text())
        services |= set(data["services"])
        for svc in data["services"].values():
            alertnames |= set((svc or {}).get("routes") or {})
    for path in PAYLOADS.glob("[!_]*.json"):
        for a in payload_json(path.stem)["alerts"]:
            alertnames.add(a["labels"]["alertname"])
            services.add(a["labels"].get("service", ""))
    return {s for s in services if _OLD_SAFE.fullmatch(s)}, alertnames


def test_the_two_colliding_service_values_get_two_ids() -> None:
    hostile = "a b"
    lookalike = old_safe_id_part(hostile)  # "a_b-<hash>": itself a safe value
    assert old_incident_id("X", hostile) == old_incident_id("X", lookalike)  # the bug
    assert incident_id("X", hostile) != incident_id("X", lookalike)
    assert incident_id("X", hostile) == "incident:X:a%20b"
    assert incident_id("X", lookalike) == f"incident:X:{lookalike}"  # safe: unchanged
    # No label and a service literally named "_" were one incident too.
    assert incident_id("X", "") != incident_id("X", "_")


def test_existing_safe_ids_are_unchanged() -> None:
    services, alertnames = real_names()
    assert {"genesis-orchestration", "agent-lab"} <= services and "HighErrorRate" in alertnames
    for alertname in alertnames:
        for service in services:
            assert incident_id(alertname, service) == old_incident_id(alertname, service)
    # And every value that was safe by the old rule, e.g. the longest one allowed.
    for value in ("x" * 100, "a.b_c-D9", "_", "-", "..."):
        assert safe_id_part(value) == old_safe_id_part(value) == value


def generated_values(n: int = 4000) -> list[str]:
    """A deterministic mix: look-alikes of each other's encodings, escapes, `~`, long
    values sharing a prefix, non-ASCII, lone surrogates, control characters."""
    rng = random.Random(20261206)
    alphabet = list("ab_-.%~:/ ;`") + ["é", "💥", "\ud800", "\x00", "\n", "2", "0", "F"]
    values = {"", "_", "~", "%", "%25", "%20", "a b", "a%20b", "a_b", "x" * 100, "x" * 101}
    base = {safe_id_part(v) for v in list(values)}  # encodings fed back in as inputs
    values |= base
    while len(values) < n:
        k = rng.choice((1, 2, 3, 5, 8, 40, 99, 100, 101, 150))
        v = "".join(rng.choice(alphabet) for _ in range(k))
        values.add(v)
        if rng.random() < 0.1:
            values.add(safe_id_part(v))  # an encoding, as a raw value of its own
        if rng.random() < 0.05:
            values.add("p" * 70 + v)  # long, sharing the kept prefix
    return sorted(values)


def test_the_encoding_is_injective() -> None:
    values = generated_values()
    assert len(values) >= 4000
    parts = {safe_id_part(v): v for v in values}
    assert len(parts) == len(values), "two values share an id part"
    ids = {incident_id(a, s) for a in values[:80] for s in values[:80]}
    assert len(ids) == 80 * 80
    for part in parts:
        assert re.fullmatch(r"[A-Za-z0-9._%~-]{1,100}", part), part
        assert ":" not in part  # so incident:<alertname>:<service> splits unambiguously
