"""Worker-side settings, from the environment (prefix REMEDY_) or a .env file.

Secrets (Slack webhook URL, PagerDuty routing key) live only here, on the worker:
workflows pass names, activities resolve them (DESIGN principle 5).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
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
    # ---- answers from people (README "Approvals and who may give them")
    # The bridge's POST /slack/interactions and POST /pagerduty check these signatures;
    # unset, the endpoint answers 404 (bridge/interactions.py).
    slack_signing_secret: SecretStr | None = None
    pagerduty_webhook_secret: SecretStr | None = None
    # Who `remedy approve|reject|acknowledge` answers as: a name under the inventory's
    # `people:`, checked against the service's `approvers:` by the workflow. Unset: $USER.
    approver: str | None = None
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
    # ---- abuse limits: bridge new-incident caps and /healthz, codec server login
    # New incidents (a firing alert with no open incident) one webhook may start, and
    # this bridge process per sliding minute; over a cap the alert is answered 503 with
    # Retry-After (Alertmanager retries) and counted. 0: no cap. Alerts for open
    # incidents and resolutions are never capped (bridge/dispatch.py).
    bridge_max_new_incidents_per_request: int = Field(default=100, ge=0)
    bridge_max_new_incidents_per_minute: int = Field(default=300, ge=0)
    # /healthz answers from a Temporal check at most this old, refreshed in the
    # background, and has its own per-IP bucket (probes come every few seconds).
    bridge_health_interval_s: float = Field(default=10.0, gt=0)
    bridge_health_rate_limit_rps: float = Field(default=5.0, ge=0)
    bridge_health_rate_limit_burst: int = Field(default=20, ge=1)
    # The codec server's session cookie: `auto` marks it Secure (and SameSite=None) when
    # the request came over https; behind a TLS-terminating proxy that speaks http to
    # the codec server, set `true`. `false` never marks it Secure (plain-http setups).
    codec_cookie_secure: Literal["auto", "true", "false"] = "auto"
    # Failed /login attempts: per client IP, this many are free, then each further one
    # waits twice as long (1 s, 2 s, 4 s ... up to 15 min); at most this many failures
    # per minute across all clients. Over either: 429 with Retry-After.
    codec_login_free_attempts: int = Field(default=5, ge=1)
    codec_login_max_failures_per_minute: int = Field(default=30, ge=1)

    # host:port where the worker serves the Temporal SDK's metrics for Prometheus (task
    # latencies, schedule-to-start -- the signal to add workers -- slots, failures).
    # Unset: no metrics endpoint. Compose sets 0.0.0.0:9464.
    worker_metrics_address: str | None = None
    # Workflow task polling (issue 19, "first response first"; README "First response
    # first"). A new incident's first workflow task is on the task queue itself; a
    # running incident's later ones go to this worker's sticky queue while it is cached.
    # The SDK's defaults (5 polls, ratio 0.2) give new incidents one poll in five; these
    # give them worker_workflow_pollers * worker_nonsticky_poll_ratio of their own.
    worker_workflow_pollers: int = Field(default=10, ge=2)
    worker_nonsticky_poll_ratio: float = Field(default=0.5, gt=0, le=1)
    # Slots and cache per worker process (README "Production shape: two of everything").
    # Unset: the SDK's defaults (100 workflow tasks, 100 activities, 1,000 cached
    # workflows). An activity slot is held for the whole SSH command or HTTP call.
    worker_max_concurrent_workflow_tasks: int | None = Field(default=None, ge=2)
    worker_max_concurrent_activities: int | None = Field(default=None, ge=1)
    worker_max_cached_workflows: int | None = Field(default=None, ge=0)

    # Where the incident log goes when the service names no incident_log file.
    incident_log_fallback: Path | None = None

    # ---- fleet-wide blast radius (workflows/fleet.py; README "Safety policy")
    # More than storm_incidents new incidents within storm_window_s opens one storm
    # incident that pages once and holds every automated side effect fleet-wide until a
    # person runs `remedy storm release`. Read by the bridge, sent with each opening.
    storm_incidents: int = Field(default=20, ge=1)
    storm_window_s: float = Field(default=300.0, gt=0)
    # Automated actions (restart, rollback, mitigation, containment) per rolling hour
    # across the whole fleet; read by the worker's permit activity.
    fleet_actions_per_hour: int = Field(default=30, ge=0)

    @property
    def local_incident_log(self) -> Path:
        return self.incident_log_fallback or self.data_dir / "incidents.log"

    # ---- secrets: every SecretStr setting may be given as a file, NAME_FILE=/path (compose
    # secrets, /run/secrets/...); a known placeholder, or a token/key shorter than
    # SECRET_MIN_CHARS, is refused at start naming the variable. Unset or empty: allowed.
    @classmethod
    def secret_variables(cls) -> dict[str, str]:
        """Field name -> environment variable, for every secret (SecretStr) setting."""
        from typing import get_args

        prefix = cls.model_config.get("env_prefix", "")
        return {
            name: f.validation_alias
            if isinstance(f.validation_alias, str)
            else f"{prefix}{name}".upper()
            for name, f in cls.model_fields.items()
            if f.annotation is SecretStr or SecretStr in get_args(f.annotation)
        }

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        for name, var in cls.secret_variables().items():
            path = os.environ.get(f"{var}_FILE") or data.get(f"{name}_file")
            if not path:
                continue
            if data.get(name) is not None or data.get(var) is not None:
                raise SecretSettingError(f"{var} and {var}_FILE are both set: keep one")
            try:
                value = Path(path).read_text().strip()
            except OSError as err:
                raise SecretSettingError(f"{var}_FILE={path}: {err.strerror}") from None
            if value:  # an empty file is unset, like an empty variable
                data[var if cls.model_fields[name].validation_alias else name] = value
        return data

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        for name, var in self.secret_variables().items():
            secret = getattr(self, name)
            text = secret.get_secret_value() if secret is not None else ""
            if not text:
                continue
            hint = "set a random value of at least 32 characters, e.g. openssl rand -hex 32"
            if name == "codec_keys":
                hint = "generate one with deploy/setup.sh (or remedy.codec.new_key_spec)"
            if m := PLACEHOLDER.search(text):
                raise SecretSettingError(
                    f"{var}: looks like a placeholder ({m.group(0)[:12]!r}...); {hint}"
                )
            # URLs (Slack) are checked only for placeholders; codec keys' sizes by
            # remedy.codec.parse_keys (16/24/32 random bytes).
            if len(text) < SECRET_MIN_CHARS and not name.endswith("_url") and name != "codec_keys":
                raise SecretSettingError(f"{var}: only {len(text)} characters; {hint}")
        return self


SECRET_MIN_CHARS = 32
# The values .env.example and docs ship, and the usual stand-ins for "fill me in".
PLACEHOLDER = re.compile(
    r"change[-_ .]?me|replace[-_ .]?me|placeholder|fill[-_ .]?me|<[^>]*>|^(x+|\*+|\.\.\.)$",
    re.IGNORECASE,
)


class SecretSettingError(RuntimeError):
    """A secret setting is a placeholder, too short, or its _FILE cannot be read. A
    RuntimeError, not a validation error: the processes print it as one line."""


def named_secret(var: str) -> str | None:
    """A secret the inventory names by its environment variable (a paging level's
    PagerDuty routing key, a Slack channel's webhook URL): `VAR` or `VAR_FILE`, checked
    like the settings' own secrets. None when unset or empty. Read on the worker only:
    the inventory and workflow history carry the name, never the value."""
    path = os.environ.get(f"{var}_FILE")
    value = os.environ.get(var)
    if path and value:
        raise SecretSettingError(f"{var} and {var}_FILE are both set: keep one")
    if path:
        try:
            value = Path(path).read_text().strip()
        except OSError as err:
            raise SecretSettingError(f"{var}_FILE={path}: {err.strerror}") from None
    if not value:
        return None
    if m := PLACEHOLDER.search(value):
        raise SecretSettingError(f"{var}: looks like a placeholder ({m.group(0)[:12]!r}...)")
    return value
