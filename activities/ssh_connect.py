"""SSH connections for activities/ssh.py: strict host keys, the per-host connection
cache, the jump-host tunnel, and the classification of connect failures.

Only the host's own `known_hosts_file` is trusted (no system file, no agent, no default
keys) and an unknown key is rejected, never learned; key and authentication failures
are non-retryable ApplicationErrors, everything else (refused, timed out, DNS) is
`HostUnreachable` and retried by Temporal.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import NoReturn

import paramiko

from activities.errors import app_error
from activities.inventory import HostSpec
from workflows.errors import HostKeyUnknown


class _UnknownHostKey(paramiko.SSHException, HostKeyUnknown):
    pass


class _StrictPolicy(paramiko.RejectPolicy):
    """RejectPolicy with a distinct exception, so "unknown key" is told apart from
    every other SSHException without matching message text."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> NoReturn:
        raise _UnknownHostKey(f"{hostname} presented {key.get_name()} key not in known_hosts")


# ---------------------------------------------------------------- connection cache
_CacheKey = tuple[str | int | None, ...]


class _ConnectionCache:
    """One SSHClient per host, shared by the worker's threads.

    The key includes the key and known_hosts paths: a connection verified against one
    known_hosts file must never be reused for a spec that trusts a different one.
    One lock per key, so a slow connect to one host doesn't block the others.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[_CacheKey, paramiko.SSHClient] = {}
        self._key_locks: dict[_CacheKey, threading.Lock] = {}

    def get(self, host_name: str, host: HostSpec, *, fresh: bool = False) -> paramiko.SSHClient:
        keys = (str(host.private_key_file), str(host.known_hosts_file))
        # The jump host is part of the route: a direct and a tunnelled connection differ.
        k: _CacheKey = (host_name, host.address, host.port, host.user, *keys, host.jump_host)
        with self._lock:
            key_lock = self._key_locks.setdefault(k, threading.Lock())
        with key_lock:
            client = self._clients.get(k)
            transport = client.get_transport() if client else None
            if client and transport and transport.is_active() and not fresh:
                return client
            if client:
                client.close()
                self._clients.pop(k, None)
            client = _connect(host_name, host)
            self._clients[k] = client
            return client


cache = _ConnectionCache()


# First match wins: the key and auth exceptions are SSHException subclasses. Everything
# else (refused, timed out, no route, DNS, handshake died) is transient.
_CONNECT_ERRORS: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [
    (_UnknownHostKey, "HostKeyUnknown"),
    (paramiko.BadHostKeyException, "HostKeyChanged"),
    (paramiko.AuthenticationException, "AuthenticationFailed"),
    ((OSError, paramiko.SSHException, EOFError), "HostUnreachable"),
]


def _connect(host_name: str, host: HostSpec) -> paramiko.SSHClient:
    where = f"{host_name} ({host.user}@{host.address}:{host.port})"
    if not Path(host.known_hosts_file).is_file():
        raise app_error("HostKeyUnknown", f"{where}: no file {host.known_hosts_file}")
    if not Path(host.private_key_file).is_file():
        raise app_error("AuthenticationFailed", f"{where}: key {host.private_key_file} missing")
    t = host.connect_timeout_s
    sock = _tunnel(host_name, host) if host.jump_host else None
    client = paramiko.SSHClient()
    client.load_host_keys(str(host.known_hosts_file))  # not load_system_host_keys()
    client.set_missing_host_key_policy(_StrictPolicy())
    try:
        client.connect(
            host.address,
            host.port,
            host.user,
            key_filename=str(host.private_key_file),
            look_for_keys=False,
            allow_agent=False,  # only the inventory's key, never ~/.ssh
            timeout=t,
            banner_timeout=t,
            auth_timeout=t,
            channel_timeout=t,
            sock=sock,
        )
    except Exception as e:
        client.close()
        for cls, type_ in _CONNECT_ERRORS:
            if isinstance(e, cls):
                raise app_error(type_, f"{where}: {type(e).__name__}: {e}") from None
        raise
    return client


def _tunnel(host_name: str, host: HostSpec) -> paramiko.Channel:
    """A direct-tcpip channel to the target through its jump host (itself connected
    strictly, via the cache, so several targets share one jump connection)."""
    jump: HostSpec | None = host._jump
    if jump is None:  # a HostSpec built outside an Inventory: the jump is unresolved
        raise app_error("UnknownHost", f"{host_name}: jump host {host.jump_host!r} unresolved")
    for fresh in (False, True):
        transport = cache.get(host.jump_host or "", jump, fresh=fresh).get_transport()
        try:
            if transport is None:
                raise paramiko.SSHException("no transport")
            return transport.open_channel(
                "direct-tcpip",
                (host.address, host.port),
                ("127.0.0.1", 0),
                timeout=host.connect_timeout_s,
            )
        except (OSError, paramiko.SSHException, EOFError) as e:
            if fresh:
                raise app_error(
                    "HostUnreachable", f"{host_name}: via {host.jump_host}: {e}"
                ) from None
    raise AssertionError("unreachable")


def open_session(host_name: str, host: HostSpec) -> paramiko.Channel:
    """A session channel, reconnecting once if the cached transport turned out dead.
    Safe to retry: nothing has been executed yet."""
    for fresh in (False, True):
        client = cache.get(host_name, host, fresh=fresh)
        try:
            transport = client.get_transport()
            if transport is None:
                raise paramiko.SSHException("no transport")
            return transport.open_session(timeout=host.connect_timeout_s)
        except (OSError, paramiko.SSHException, EOFError) as e:
            if fresh:
                raise app_error("HostUnreachable", f"{host_name}: no session: {e}") from None
    raise AssertionError("unreachable")
