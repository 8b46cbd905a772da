"""Raising the error tree (workflows/errors.py) as Temporal ApplicationErrors.

Workflows branch on `ApplicationError.type` (a string that survives serialization), so
every failure a playbook must tell apart is a leaf of the tree, and the leaf's name is
the type string. Retryability is set on the branch: only `Unreachable` is retried;
retrying a changed host key is an attack surface, not resilience.

    RemedyError
      ConfigurationError   (not retried) the inventory / configuration says no
        UnknownService UnknownHost CommandNotConfigured ProbeNotConfigured
        IdempotencyKeyRequired
      Unreachable          (retried)     the other side did not answer
        HostUnreachable CommandTimeout NotifyUnavailable CiUnavailable
        VisibilityUnavailable
      Refused              (not retried) a guard said no, nothing was sent or changed
        HostKeyUnknown HostKeyChanged AuthenticationFailed CommandNotAllowed
        GovernorRefused ProbeTargetRefused NotifyRejected CiRejected
      Failed               (not retried) it ran and failed
        MitigationFailed SnapshotFailed DataFileOpFailed CommandFailed LogUnreadable
        IdempotencyUnknown

`app_error(errors.UnknownService, msg)` and `app_error("UnknownService", msg)` are the
same error. A type that is not a leaf is a KeyError: add the leaf to the tree first.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from workflows import errors
from workflows.errors import ERROR_TYPES

__all__ = ["ERROR_TYPES", "app_error"]


def app_error(
    type_: str | type[errors.RemedyError], message: str, *details: object
) -> ApplicationError:
    """Build an ApplicationError of a leaf type (class or its name), non-retryable
    unless the leaf is retryable."""
    cls = errors.leaf(type_)
    return ApplicationError(message, *details, type=cls.__name__, non_retryable=not cls.retryable)
