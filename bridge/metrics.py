"""The bridge's Prometheus metrics, in a registry owned by one app.

A registry per app (not prometheus_client's global one) so that several apps in one
process -- tests, or the embedded dev stack next to a worker -- never collide on
metric names or count into each other.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST


class BridgeMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.alerts_received = Counter(
            "remedy_bridge_alerts_received",
            "Alerts received from Alertmanager, by alert status and the playbook routed to",
            ["status", "route"],
            registry=r,
        )
        self.incidents_started = Counter(
            "remedy_bridge_incidents_started",
            "Incident workflows started by signal-with-start",
            ["playbook", "flapping"],
            registry=r,
        )
        self.signals_sent = Counter(
            "remedy_bridge_signals_sent",
            "Signals delivered to incident workflows (alert_fired via signal-with-start)",
            ["signal"],
            registry=r,
        )
        self.deduplicated = Counter(
            "remedy_bridge_alerts_deduplicated",
            "Repeated alerts answered from the bridge's cache without a Temporal call",
            registry=r,
        )
        self.resolved_without_incident = Counter(
            "remedy_bridge_resolved_without_incident",
            "Resolved alerts for which no incident was open (nothing to do)",
            registry=r,
        )
        self.temporal_calls = Counter(
            "remedy_bridge_temporal_calls",
            "Calls made to the Temporal frontend, by kind",
            ["call"],
            registry=r,
        )
        self.rejects = Counter(
            "remedy_bridge_rejects",
            "Webhook requests not (fully) applied, by reason",
            ["reason"],
            registry=r,
        )
        self.deferred = Counter(
            "remedy_bridge_alerts_deferred",
            "Alerts for new incidents not started because a new-incident cap was reached "
            "(answered 503 with Retry-After, so Alertmanager retries), by cap",
            ["cap"],
            registry=r,
        )
        self.health_checks = Counter(
            "remedy_bridge_health_checks",
            "Temporal health checks made for /healthz (cached between them), by result",
            ["result"],
            registry=r,
        )
        self.latency = Histogram(
            "remedy_bridge_request_duration_seconds",
            "Webhook request latency, including every Temporal call it needed",
            ["endpoint", "code"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 when never set): for tests and the dev stack."""
        return self.registry.get_sample_value(name, labels) or 0.0
