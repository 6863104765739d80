"""`raytop doctor`: what raytop can and cannot see from here, and why: Ray, the probe and
injection, NVML, token auth, the cluster, and for each driver the attach level it allows."""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import click

from raytop import SUPPORTED_RAY, __version__
from raytop.format import NA


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def check_ray() -> tuple[bool, str]:
    try:
        from importlib.metadata import version

        v = version("ray")
    except Exception:  # noqa: BLE001
        return False, "Ray is not installed in this Python (pip install 'ray[data,default]')"
    checked_low, checked_high = SUPPORTED_RAY
    ok = _version_tuple(v)[:2] >= checked_low
    note = "" if ok else (f" (raytop is checked on Ray >= {checked_low[0]}.{checked_low[1]}; "
                          "some fields will be n/a)")
    if ok and _version_tuple(v)[:2] > checked_high:
        note = (f" (newer than the {checked_high[0]}.{checked_high[1]} raytop was checked on: "
                "what this Ray moved reads as n/a; see docs/ray-internals.md)")
    try:
        import importlib.util

        has_default = importlib.util.find_spec("ray.dashboard") is not None and \
            importlib.util.find_spec("aiohttp") is not None
    except Exception:  # noqa: BLE001
        has_default = False
    extra = "ray[default] present: metrics endpoints and node stats readable" if has_default else \
        "ray[default] missing: object store/CPU per node come only from Ray's node table"
    return ok, f"Ray {v}{note}; {extra}"


def check_nvml() -> tuple[bool, str]:
    from raytop.sources.nvml import Nvml

    nv = Nvml()
    try:
        if not nv.available():
            return False, f"no GPU readings: {nv.reason}"
        devs = nv.devices()
        if not devs:
            return False, "no GPU readings: NVML loaded but sees no GPU"
        names = ", ".join(f"{g.index}: {g.name or NA}" for g, _ in devs)
        return True, f"NVML sees {len(devs)} GPU(s): {names}"
    finally:
        nv.close()


def check_token() -> tuple[bool, str]:
    """Says where a token would come from, never what it is."""
    mode = os.environ.get("RAY_AUTH_MODE")
    if os.environ.get("RAY_AUTH_TOKEN"):
        src = "RAY_AUTH_TOKEN is set"
    elif os.environ.get("RAY_AUTH_TOKEN_PATH") and Path(os.environ["RAY_AUTH_TOKEN_PATH"]).is_file():
        src = "token file from RAY_AUTH_TOKEN_PATH"
    elif (Path.home() / ".ray" / "auth_token").is_file():
        src = "token file ~/.ray/auth_token"
    else:
        src = "no token found"
    return True, f"token auth: RAY_AUTH_MODE={mode or 'unset'}; {src} (raytop never prints or records it)"


def check_probe() -> tuple[bool, str]:
    try:
        import raytop.probe  # noqa: F401
    except Exception as e:  # noqa: BLE001
        return False, f"probe not importable: {e}"
    from raytop.channel import ensure_dir

    try:
        d = ensure_dir()
    except Exception as e:  # noqa: BLE001
        return False, f"probe channel directory unusable: {e}"
    from raytop.attach.always_on import PTH_NAME
    from raytop.attach.levels import gdb_binary, injection_tool

    tool = injection_tool()
    if tool == "gdb":
        inject = f"injection with {Path(gdb_binary() or 'gdb').name}"
    else:
        inject = "injection with sys.remote_exec" if tool else \
            "no gdb: injection impossible (apt install gdb)"
    always = (Path(sysconfig.get_paths()["purelib"]) / PTH_NAME).exists()
    on = "always on in this environment" if always else \
        "RAY_DATA_EXECUTION_CALLBACKS=raytop.probe.RaytopProbe (or `raytop probe enable`)"
    return True, f"probe: {on}; {inject}; channel {d}"


PROBE_LISTEN_S = 2.5  # a probe present in a driver reports about once a second once heard


def check_cluster(address: str | None) -> tuple[bool, str, list[str]]:
    """The cluster, and for each of its drivers the attach level raytop reaches from here."""
    from raytop.commands.cluster_session import open_session
    from raytop.errors import RaytopError

    try:
        session = open_session(address)
    except RaytopError as e:
        return False, f"no cluster: {e}", []
    try:
        sources = {s.name: s for s in session.sources()}
        part = sources["cluster"].read()
        n = len(part.nodes)
        stores = sum(1 for x in part.nodes if x.object_store.used_bytes is not None)
        how = "without a driver" if session.light else "through a Ray driver"
        head = (f"cluster at {session.address} (Ray {session.link.ray_version}, read {how}): "
                f"{n} node(s), object store usage readable on {stores}")
        return True, head, driver_lines(session.drivers())
    except Exception as e:  # noqa: BLE001
        return True, f"cluster at {session.address} reachable; readings failed: {e}", []
    finally:
        session.close()


def _reporting_pids(pids) -> dict:
    """pid -> "env" | "injected" for the drivers whose probe reports to this user's channel."""
    from raytop.sources.probe_source import ProbeSource

    src = ProbeSource()
    try:
        for pid in pids:
            src.wait_for_dataset(pid, PROBE_LISTEN_S / max(1, len(pids)))
        try:
            return dict(src.read().probe_pids)
        except Exception:  # noqa: BLE001 - nothing heard
            return {}
    finally:
        src.close()


def driver_lines(drivers) -> list[str]:
    if not drivers:
        return ["no driver is connected to the cluster"]
    reporting = _reporting_pids([d.pid for d in drivers])
    lines = []
    for d in drivers:
        if d.pid in reporting:
            level = f"probe present ({'injected' if reporting[d.pid] == 'injected' else 'env'})"
        elif d.level == "injectable":
            level = f"injectable: {d.why}"
        else:
            level = f"probe-free: {d.why}"
        where = f" on {d.node_ip}" if d.node_ip else ""
        lines.append(f"driver pid {d.pid} (job {d.job_id}{where}): {level}")
        if d.entrypoint:
            lines.append(f"    {d.entrypoint}")
    return lines


def run_doctor(address: str | None) -> int:
    print(f"raytop {__version__} on Python {sys.version.split()[0]}")
    checks: list[tuple[str, Callable[[], tuple[bool, str] | tuple[bool, str, list[str]]]]] = [
        ("ray", check_ray), ("probe", check_probe), ("gpu", check_nvml), ("auth", check_token),
        ("cluster", lambda: check_cluster(address))]
    for name, fn in checks:
        detail: list[str] = []
        try:
            ok, msg, *rest = fn()
            detail = rest[0] if rest else []
        except Exception as e:  # noqa: BLE001 - doctor reports, never crashes
            ok, msg = False, f"{type(e).__name__}: {e}"
        print(f"  [{'ok' if ok else '--'}] {name:8s} {msg}", flush=True)
        for line in detail:
            print(f"             {line}", flush=True)
    return 0


@click.command("doctor")
@click.option("--address", default=None,
              help="Ray GCS address to check (default: RAY_ADDRESS or auto).")
def command(address) -> None:
    """What raytop can see here: Ray, NVML, token auth, the cluster and its drivers."""
    sys.exit(run_doctor(address))
