"""The one way an activity gets an HTTP client, and what its errors may say.

`http_client(timeout, ...)` is used by every HTTP activity (probes, Prometheus, Slack,
PagerDuty, GitHub). What it fixes for all of them:

* `trust_env=False` for everything Remedy reaches *inside* the fleet (probes of
  inventory URLs, Prometheus): no proxy from HTTP(S)_PROXY/ALL_PROXY, no credentials
  from `~/.netrc`, no CA bundle from SSL_CERT_FILE. A probe of a loopback or inventory
  URL must go where the inventory says, and nothing in the worker's environment may add
  a credential to a request the code did not write.
  `egress=True` for the SaaS APIs outside it (Slack, PagerDuty, GitHub): workers in a
  locked-down network reach those only through the site's egress proxy and its CA, as
  every other tool there does, so those clients honour HTTPS_PROXY / NO_PROXY and
  SSL_CERT_FILE. Still no redirects, the same timeouts and redaction.
* Explicit timeouts: `timeout` seconds for connect, read, write and pool; a request may
  still pass its own `timeout=` (the probes' per-call timeouts do).
* Redirects are never followed. A probe reports the 3xx the endpoint answered (a health
  URL that redirects to a login page is an outage page, not health), and an API call that
  is redirected is misconfigured: following it would send the body -- and, same origin,
  the Authorization header -- to a URL nobody configured.

What differs between callers is a parameter: `headers` (GitHub's token and API
version), `base_url` (Prometheus), `max_connections` (the load probe's concurrency).
The streaming probe's bound on the whole exchange is an `asyncio.timeout` around the
request, not a client setting.

Redaction. Error text and results enter workflow history, which outlives any secret
rotation. `error_text(exc)` / `redact_text(text)` mask: URLs' user:password@, query
values whose name looks secret (`?key=`, `access_token=`, `X-Amz-Signature=`), an
`Authorization: Bearer ...` or `token=...`, and every value registered with
`register_secrets` (the Slack webhook URL, the PagerDuty routing key). `redact_url` is
the URL as it may be shown; `public_url` drops the query altogether. httpx's own
"HTTP Request: GET <url>" INFO line passes the same filter.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import httpx

from activities.ssh_policy import MASK, redact

__all__ = [
    "MASK",
    "error_text",
    "http_client",
    "public_url",
    "redact_text",
    "redact_url",
    "register_secrets",
    "without_userinfo",
]

# A query parameter whose name contains one of these carries a credential.
_SECRET_PARAM = re.compile(
    r"(?i)key|token|secret|passw|pwd|auth|sig|credential|session|code|jwt|bearer"
)
_URL = re.compile(r"""[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>`]+""")
# A credential after its scheme word, outside an `Authorization:` header line too.
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/-]{16,}=*")
_SECRETS: set[str] = set()


def http_client(
    timeout: float,
    *,
    headers: dict[str, str] | None = None,
    base_url: str = "",
    max_connections: int | None = None,
    egress: bool = False,
) -> httpx.AsyncClient:
    """A new AsyncClient with the settings above. The caller closes it (`async with`, or
    `aclose()` for a long-lived one)."""
    limits = (
        httpx.Limits(max_connections=max_connections)
        if max_connections is not None
        else httpx.Limits()  # httpx's defaults: 100 connections, 20 keep-alive
    )
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        headers=headers,
        base_url=base_url,
        limits=limits,
        follow_redirects=False,
        trust_env=egress,
    )


# ---------------------------------------------------------------- URLs
def redact_url(url: str) -> str:
    """`url` without user:password@ and with secret-named query values masked; returned
    unchanged (byte for byte) when there is nothing to mask."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc.rpartition("@")[2]
    pairs = parts.query.split("&") if parts.query else []
    masked = [_mask_pair(p) for p in pairs]
    if netloc == parts.netloc and masked == pairs:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(masked), parts.fragment))


def _mask_pair(pair: str) -> str:
    name, sep, _ = pair.partition("=")
    return f"{name}={MASK}" if sep and _SECRET_PARAM.search(unquote_plus(name)) else pair


def public_url(url: str) -> str:
    """Scheme, host, port and path only: no credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def without_userinfo(url: str) -> str:
    """The URL to send: `user:pw@` would make httpx send Basic auth, never a probe's to
    send. Query kept (it is part of the endpoint), fragment dropped (never sent)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


# ---------------------------------------------------------------- text
def register_secrets(*secrets: str) -> None:
    """Values masked wherever they appear (results, errors, httpx's log), from now on."""
    _SECRETS.update(s for s in secrets if len(s) >= 4)


def redact_text(text: str) -> str:
    # Registered secrets first, longest first: a full webhook URL before its path.
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return redact(text)


def error_text(exc: BaseException, limit: int = 500) -> str:
    """`Type: message` of an httpx error, redacted and clipped, for a result or an
    ApplicationError (raise it `from None`: the cause chain carries the request)."""
    return redact_text(f"{type(exc).__name__}: {exc}")[:limit]


class _RedactFilter(logging.Filter):
    """httpx logs every request URL at INFO; the line passes `redact_text`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


logging.getLogger("httpx").addFilter(_RedactFilter())
