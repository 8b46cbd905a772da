"""The error tree: one root, four branches, one leaf per ApplicationError type.

Activities raise failures as Temporal ApplicationErrors (`activities.errors.app_error`);
only `ApplicationError.type`, a string, survives into the workflow. That string is the
name of a leaf class here, so a playbook turns it back into a class with `by_type` and
branches on the class rather than on a list of strings:

    RemedyError                   retryable  (set on the branch, inherited by its leaves)
      ConfigurationError          no     the inventory / configuration says no
        UnknownService UnknownHost CommandNotConfigured ProbeNotConfigured
        IdempotencyKeyRequired
      Unreachable                 yes    the other side did not answer (yet)
        HostUnreachable CommandTimeout NotifyUnavailable CiUnavailable
        VisibilityUnavailable
      Refused                     no     a guard said no; nothing was sent or changed
        HostKeyUnknown HostKeyChanged AuthenticationFailed CommandNotAllowed
        GovernorRefused ProbeTargetRefused NotifyRejected CiRejected RollbackNotAllowed
        NotAnApprover
      Failed                      no     it ran, and failed
        MitigationFailed SnapshotFailed DataFileOpFailed CommandFailed LogUnreadable
        IdempotencyUnknown
        UnknownError             (by_type's fallback; never raised by an activity)

Compatibility contract: a leaf's name is its type string, recorded in workflow
histories, so a leaf is never renamed, and its retryability never changes (move a leaf
only to a branch with the same `retryable`, or override it on the leaf).

Pure Python, no I/O and no temporalio: importable inside the workflow sandbox. These
classes classify failures; activities raise them through `app_error` (an
ApplicationError), and a workflow never raises them itself (a plain exception raised
in workflow code fails the workflow task, not the workflow).

Other exception classes may join a branch (e.g. `activities.inventory.InventoryError`
is a ConfigurationError) so `except RemedyError` catches them in ordinary code; they
are not leaves: `by_type` and `ERROR_TYPES` know only the classes listed in LEAVES.
"""

from __future__ import annotations

from typing import ClassVar


class RemedyError(Exception):
    """Root of every failure a playbook can tell apart. `retryable` says whether
    Temporal retries an activity that raised it (ApplicationError.non_retryable)."""

    retryable: ClassVar[bool] = False


# ---------------------------------------------------------------- branches
class ConfigurationError(RemedyError):
    """The inventory or configuration says no: a person must change the inventory (or
    the caller), so a retry returns the same answer."""

    retryable = False


class Unreachable(RemedyError):
    """The other side did not answer (network, timeout, 429/5xx): retried with backoff;
    a playbook sees it only once the retries are spent."""

    retryable = True


class Refused(RemedyError):
    """A guard said no (host key, credentials, allowlist, governor, an API's 4xx):
    nothing was sent or changed, and retrying would only ask the same guard again."""

    retryable = False


class Failed(RemedyError):
    """It ran and failed: the result is an answer, not flakiness, and running it again
    would do the same thing to the same data."""

    retryable = False


# ---------------------------------------------------------------- configuration
class UnknownService(ConfigurationError):
    """The service is not in the inventory."""


class UnknownHost(ConfigurationError):
    """The host (or a jump host) is not in the inventory, or not one of the service's."""


class CommandNotConfigured(ConfigurationError):
    """The inventory has no command, path or section for this step."""


class ProbeNotConfigured(ConfigurationError):
    """An HTTP/agent-lab probe has no URL or target: none given and the service has none."""


class IdempotencyKeyRequired(ConfigurationError):
    """A side-effect activity was called without an idempotency key (a caller bug)."""


# ---------------------------------------------------------------- unreachable
class HostUnreachable(Unreachable):
    """SSH connect refused / timed out / DNS failed, or the connection was lost."""


class CommandTimeout(Unreachable):
    """The remote command exceeded its timeout."""


class NotifyUnavailable(Unreachable):
    """Slack/PagerDuty answered 429 / 5xx, or the network failed."""


class CiUnavailable(Unreachable):
    """The CI API answered 429 / 5xx, or the network failed."""


class VisibilityUnavailable(Unreachable):
    """Temporal visibility could not list an incident's earlier runs."""


# ---------------------------------------------------------------- refused
class HostKeyUnknown(Refused):
    """The host's key is not in its known_hosts file: never learned automatically."""


class HostKeyChanged(Refused):
    """The host's key differs from known_hosts: a possible man in the middle."""


class AuthenticationFailed(Refused):
    """The host refused the inventory's key (or the key file is missing)."""


class CommandNotAllowed(Refused):
    """argv[0] is not in the service's allowlist: nothing was sent to the host."""


class GovernorRefused(Refused):
    """The blast-radius governor's validator rejected a permit request."""


class ProbeTargetRefused(Refused):
    """A load/probe target is neither loopback nor one of the inventory's URLs."""


class NotifyRejected(Refused):
    """Slack/PagerDuty answered 4xx (not 429), or its URL is malformed."""


class RollbackNotAllowed(Refused):
    """A Rollback workflow started by hand, not as an incident's child: it would skip
    the incident's approvals and governor, so it refuses before running anything."""


class NotAnApprover(Refused):
    """An approval, rejection or acknowledgement from someone the inventory's
    `approvers:` does not list for that kind of step (the update's validator)."""


class CiRejected(Refused):
    """The CI API answered 4xx (bad token, unknown workflow): a person must fix it."""


# ---------------------------------------------------------------- failed
class MitigationFailed(Failed):
    """A configuration change or restore ran and failed."""


class SnapshotFailed(Failed):
    """The forensic snapshot failed: no containment without evidence."""


class DataFileOpFailed(Failed):
    """A data-corruption host step failed: same files, same result."""


class CommandFailed(Failed):
    """A read-only diagnostic command exited non-zero (e.g. git log)."""


class LogUnreadable(Failed):
    """A configured log file cannot be read on the host."""


class IdempotencyUnknown(Failed):
    """A keyed side effect started earlier never finished: whether it happened is
    unknown, so it is not run again blindly."""


class UnknownError(Failed):
    """by_type's fallback: no type (None) or a type not in the tree, e.g. a Python or
    Temporal exception name ("TimeoutError", "KeyError"). Temporal's retry policy has
    already run by the time a workflow sees one; treated as a plain failure."""


# ---------------------------------------------------------------- lookups
# The leaves activities may raise, in a fixed order (explicit, not __subclasses__():
# classes elsewhere may subclass a branch and must not become type strings).
LEAVES: tuple[type[RemedyError], ...] = (
    HostKeyUnknown,
    HostKeyChanged,
    AuthenticationFailed,
    HostUnreachable,
    CommandTimeout,
    UnknownService,
    UnknownHost,
    CommandNotConfigured,
    CommandNotAllowed,
    IdempotencyUnknown,
    IdempotencyKeyRequired,
    NotifyRejected,
    NotifyUnavailable,
    ProbeNotConfigured,
    MitigationFailed,
    GovernorRefused,
    VisibilityUnavailable,
    LogUnreadable,
    SnapshotFailed,
    DataFileOpFailed,
    CommandFailed,
    ProbeTargetRefused,
    CiUnavailable,
    CiRejected,
    RollbackNotAllowed,
    NotAnApprover,
)

BRANCHES: tuple[type[RemedyError], ...] = (ConfigurationError, Unreachable, Refused, Failed)

_BY_TYPE: dict[str, type[RemedyError]] = {cls.__name__: cls for cls in LEAVES}

# type string -> retryable, for the readers of the former flat table.
ERROR_TYPES: dict[str, bool] = {name: cls.retryable for name, cls in _BY_TYPE.items()}


def by_type(type_str: str | None) -> type[RemedyError]:
    """The leaf class for an ApplicationError type string; `UnknownError` (a Failed)
    for None or any string that is not a leaf. Never raises."""
    return _BY_TYPE.get(type_str or "", UnknownError)


def leaf(type_: str | type[RemedyError]) -> type[RemedyError]:
    """The leaf for a type string or a leaf class; KeyError for anything else (a branch,
    UnknownError, a class outside LEAVES, an undocumented string)."""
    name = type_ if isinstance(type_, str) else type_.__name__
    cls = _BY_TYPE.get(name)
    if cls is None or (not isinstance(type_, str) and cls is not type_):
        raise KeyError(f"undocumented error type {name!r}; add a leaf to workflows/errors.py")
    return cls
