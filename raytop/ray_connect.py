"""How raytop names and reaches a Ray cluster (used inside the bridge process)."""

from __future__ import annotations

import logging
import re
import socket
from typing import Any, Dict

_HOST_PORT = re.compile(r"^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.\-]+):(\d{1,5})$")


class AddressError(ValueError):
    pass


def normalize_address(address: str) -> str:
    """Validate a user-given cluster address; raise AddressError with one line when malformed."""
    address = (address or "").strip()
    if not address or address == "auto":
        return "auto"
    if address.startswith("ray://"):
        raise AddressError(f"'{address}' is a Ray Client address; raytop reads the cluster directly: "
                           "run it on a cluster node with --address <head-ip>:6379 (or 'auto')")
    if "://" in address:
        raise AddressError(f"'{address}' is not a Ray GCS address (expected HOST:PORT or 'auto')")
    m = _HOST_PORT.match(address)
    if not m or not 0 < int(m.group(1)) < 65536:
        raise AddressError(f"'{address}' is not a valid Ray address (expected HOST:PORT or 'auto')")
    return address


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """Fail fast, with one line, when nothing answers at HOST:PORT (ray.init would retry for long)."""
    if address == "auto":
        return
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise AddressError(f"cannot reach the Ray cluster at {address}: {reason}") from None


def init_kwargs(address: str) -> Dict[str, Any]:
    """ray.init arguments for a read-only observer: no log forwarding, its own namespace.

    Token auth needs nothing here: Ray finds ~/.ray/auth_token or RAY_AUTH_TOKEN itself.
    """
    return {
        "address": address,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
        "namespace": "_raytop",
        "ignore_reinit_error": True,
    }
