"""The error hierarchy activities raise, as Temporal ApplicationError types.

Workflows branch on `ApplicationError.type` (a string that survives serialization),
so every failure a playbook must tell apart has its own type here. Non-retryable
errors are the ones a retry cannot fix: retrying a changed host key is an attack
surface, not resilience.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

# type name -> retryable?
ERROR_TYPES: dict[str, bool] = {
    "HostKeyUnknown": False,  # host not in known_hosts: never auto-added
    "HostKeyChanged": False,  # key differs from known_hosts: possible MITM
    "AuthenticationFailed": False,  # key refused by the host
    "HostUnreachable": True,  # connect refused / timed out / DNS
    "CommandTimeout": True,  # the remote command exceeded its timeout
    "UnknownService": False,  # service not in inventory
    "UnknownHost": False,  # host not in inventory
    "CommandNotConfigured": False,  # inventory has no argv for this slot
    "CommandNotAllowed": False,  # argv[0] not in the service's allowlist: nothing was sent
    "IdempotencyUnknown": False,  # a keyed side effect started earlier never finished
    "IdempotencyKeyRequired": False,  # a side-effect activity was called without a key
    "NotifyRejected": False,  # Slack/PagerDuty answered 4xx (not 429)
    "NotifyUnavailable": True,  # 429 / 5xx / network: retried with backoff
    "ProbeNotConfigured": False,  # http probe: no url given and the service has none
    "MitigationFailed": False,  # a config change/restore ran and failed: a result, not flaky
    "GovernorRefused": False,  # the governor's validator rejected a permit request
    "VisibilityUnavailable": True,  # Temporal could not list an incident's earlier runs
    "LogUnreadable": False,  # a configured log file cannot be read on the host
    "SnapshotFailed": False,  # the forensic tar failed: no containment without evidence
    "DataFileOpFailed": False,  # a DataCorruption host step failed: same files, same result
    "CommandFailed": False,  # a read-only diagnostic command exited non-zero (e.g. git log)
    "ProbeTargetRefused": False,  # load/probe target neither loopback nor an inventory URL
    "CiUnavailable": True,  # CI API 429 / 5xx / network: retried
    "CiRejected": False,  # CI API 4xx (bad token, unknown workflow): a person must fix it
}


def app_error(type_: str, message: str, *details: object) -> ApplicationError:
    """Build an ApplicationError of a documented type with the right retryability."""
    if type_ not in ERROR_TYPES:
        raise KeyError(f"undocumented error type {type_!r}; add it to ERROR_TYPES")
    return ApplicationError(message, *details, type=type_, non_retryable=not ERROR_TYPES[type_])
