"""Shared by the pipeline tests: the account used in definitions and a guard that blocks network access."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

ACCOUNT_ID = "123456789012"



class NetworkAttempt(AssertionError):
    """Raised by the guard in place of any HTTP send or DNS lookup."""


@contextlib.contextmanager
def network_guard() -> Iterator[list[str]]:
    """Every botocore HTTP send and every DNS lookup raises and is recorded (the list yielded)."""
    from botocore.httpsession import URLLib3Session

    attempts: list[str] = []
    original_send, original_lookup = URLLib3Session.send, socket.getaddrinfo

    def blocked_send(self, request, *args, **kwargs):
        attempts.append(f"HTTP {request.method} {request.url}")
        raise NetworkAttempt(f"network call while building: {request.method} {request.url}")

    def blocked_lookup(host, *args, **kwargs):
        attempts.append(f"DNS {host}")
        raise NetworkAttempt(f"DNS lookup while building: {host}")

    URLLib3Session.send, socket.getaddrinfo = blocked_send, blocked_lookup
    try:
        yield attempts
    finally:
        URLLib3Session.send, socket.getaddrinfo = original_send, original_lookup
