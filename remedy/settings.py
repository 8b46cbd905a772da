"""Worker-side settings, from the environment (prefix REMEDY_) or a .env file.

Secrets (Slack webhook URL, PagerDuty routing key) live only here, on the worker:
workflows pass names, activities resolve them (DESIGN principle 5).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # An empty variable (`REMEDY_PAGERDUTY_ROUTING_KEY=` in an env file) means unset, not
    # "configured with an empty secret".
    model_config = SettingsConfigDict(
        env_prefix="REMEDY_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    temporal_address: str = Field(
        default="localhost:7233",
        validation_alias="TEMPORAL_ADDRESS",
        description="host:port of the Temporal frontend",
    )
    temporal_namespace: str = Field(default="default", validation_alias="TEMPORAL_NAMESPACE")
    # Temporal Cloud / any TLS frontend (remedy/temporal.py). The standard Temporal env
    # config (TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_PROFILE, a config file...) also works;
    # these, when set, take precedence over it.
    temporal_api_key: SecretStr | None = Field(default=None, validation_alias="TEMPORAL_API_KEY")
    temporal_tls_cert: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_CERT")
    temporal_tls_key: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_KEY")
    temporal_tls_ca: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_CA")
    # "id1:base64key,id0:oldkey": AES-GCM payload encryption (remedy/codec.py). The first
    # key encrypts, every key decrypts, so a key rotates by prepending a new one.
    codec_keys: SecretStr | None = None
    # Remote codec endpoint for the Temporal UI (`remedy codec-server`).
    codec_server_token: SecretStr | None = None
    codec_server_cors_origins: str = "http://localhost:8233,http://localhost:8080"
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = 8788
    # How long a browser signed in at the codec server's /login stays signed in.
    codec_server_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    task_queue: str = "remedy"
    inventory: Path = Path("examples/inventory.yaml")
    data_dir: Path = Path("data")

    prometheus_url: str = "http://localhost:9090"
    slack_webhook_url: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    # ---- alert bridge
    bridge_token: SecretStr | None = Field(
        default=None, description="bearer token Alertmanager must send (REMEDY_BRIDGE_TOKEN)"
    )
    bridge_insecure_dev: bool = Field(
        default=False, description="allow starting the bridge without a token (development only)"
    )
    bridge_host: str = "127.0.0.1"
    bridge_port: int = 8787
    bridge_max_body_bytes: int = 1_048_576
    service_label: str = "service"
    flap_cooldown_s: float = (
        600.0  # an alert re-firing this soon after its incident closed is flapping
    )
    # Repeats of an alert already signalled are answered without Temporal for at most this
    # long after Temporal last confirmed the incident open (capped at flap_cooldown_s).
    bridge_cache_ttl_s: float = 300.0
    bridge_cache_max_incidents: int = 10_000
    # Per alert; under Alertmanager's webhook timeout (>= 10 s) so it gets a 503 to retry.
    bridge_temporal_timeout_s: float = 5.0
    # Per client IP, in-memory token bucket (per bridge process; bridge/ratelimit.py).
    # Alertmanager batches alerts, but sends one request per alert group: 20 new
    # incidents/s from one Alertmanager is 20 requests/s (docs/benchmarks.md), so the
    # limit sits well above that and still stops a runaway or hostile client.
    bridge_rate_limit_rps: float = 100.0
    bridge_rate_limit_burst: int = 500

    # host:port where the worker serves the Temporal SDK's metrics for Prometheus (task
    # latencies, schedule-to-start -- the signal to add workers -- slots, failures).
    # Unset: no metrics endpoint. Compose sets 0.0.0.0:9464.
    worker_metrics_address: str | None = None

    # Where the incident log goes when the service names no incident_log file.
    incident_log_fallback: Path | None = None

    @property
    def local_incident_log(self) -> Path:
        return self.incident_log_fallback or self.data_dir / "incidents.log"
