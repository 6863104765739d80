"""How raytop names and reaches a Ray cluster (used inside the bridge process)."""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

from raytop.errors import BadInput

_HOST_PORT = re.compile(r"^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.\-]+):(\d{1,5})$")


class AddressError(BadInput):
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


def _ray_temp_dir() -> str:
    if "RAY_TMPDIR" in os.environ:
        return os.path.join(os.environ["RAY_TMPDIR"], "ray")
    if "TMPDIR" in os.environ and sys.platform.startswith("linux"):
        return os.path.join(os.environ["TMPDIR"], "ray")
    return "/tmp/ray"


def resolve_address(address: str) -> str:
    """HOST:PORT for a normalised address, without Ray: "auto" is what ``ray.init("auto")``
    would pick, the cluster of the last ``ray start`` on this machine (Ray's
    ``ray_current_cluster`` file), else a cluster whose raylet runs here."""
    if address != "auto":
        return address
    try:
        with open(os.path.join(_ray_temp_dir(), "ray_current_cluster"), encoding="utf-8") as fh:
            found = fh.read().strip()
        if found:
            return normalize_address(found)
    except OSError:
        pass
    from raytop.sources.host import local_raylets

    for raylet in local_raylets(refresh=True):
        if raylet.gcs_address:
            return normalize_address(raylet.gcs_address)
    raise AddressError("no running Ray cluster found on this machine; give its address with "
                       "--address HOST:PORT (or RAY_ADDRESS)")


def enable_token_auth_if_available() -> None:
    """Ray enables token auth by itself only for address=None/"auto"; with an explicit address
    it needs RAY_AUTH_MODE=token. Called in the bridge process only, so the user's environment is
    untouched. The token itself is left for Ray to read; raytop never reads or prints it."""
    if os.environ.get("RAY_AUTH_MODE"):
        return
    token_path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(token_path):
        os.environ["RAY_AUTH_MODE"] = "token"


def init_kwargs(address: str) -> dict[str, Any]:
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
