"""The cluster's alive drivers (Ray's job table: pid, node, command line) and, for each, how
closely raytop can watch it from this machine (``attach.levels``). Reads the job table from the
GCS directly (a ``ClusterLink``), or through a driver's ``ray._private.state``; either way on the
machine raytop runs on, so the local checks are raytop's own."""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Mapping
from typing import Any

from raytop.attach.levels import classify
from raytop.model import DriverInfo, clean_text
from raytop.redact import redact_argv
from raytop.sources import host
from raytop.sources.base import Part

JOBS_MAX_AGE_S = 5.0
MAX_ENTRYPOINT_CHARS = 300


def _job_table() -> list[Mapping[str, Any]]:
    """The job table through this process's Ray driver."""
    import ray._private.state as state

    jobs = getattr(state, "jobs", None)
    if callable(jobs):
        return list(jobs())
    return list(state.state.job_table())


def _local_ips() -> tuple[str, ...]:
    ips = {"127.0.0.1"}
    ips.update(r.ip for r in host.local_raylets() if r.ip)
    ip = host.host_ip()
    if ip:
        ips.add(ip)
    return tuple(sorted(ips))


def entrypoint_text(entry: str | None) -> str | None:
    """A driver's command line, secrets masked, shortened."""
    if not entry:
        return None
    try:
        words = shlex.split(entry)
    except ValueError:
        words = entry.split()
    text = clean_text(" ".join(redact_argv(words)))
    return text if len(text) <= MAX_ENTRYPOINT_CHARS else text[:MAX_ENTRYPOINT_CHARS - 1] + "…"


def alive_drivers(table: list[Mapping[str, Any]], own_pid: int) -> list[Mapping[str, Any]]:
    return [j for j in table
            if not j.get("IsDead") and isinstance(j.get("DriverPid"), int)
            and j["DriverPid"] > 0 and j["DriverPid"] != own_pid]


class DriversSource:
    name = "drivers"

    def __init__(self, link=None, *, clock=time.monotonic) -> None:
        self._link = link  # None: read the job table through this process's driver
        self._clock = clock
        self._at = -float("inf")
        self._drivers: tuple[DriverInfo, ...] = ()
        self._local_ips = _local_ips()
        self._classified: dict[int, tuple[str, str]] = {}

    def _driver(self, job: Mapping[str, Any]) -> DriverInfo:
        pid = int(job["DriverPid"])
        node_ip = job.get("DriverIPAddress") or None
        if pid not in self._classified:
            self._classified[pid] = classify(pid, node_ip, self._local_ips)
        level, why = self._classified[pid]
        job_id = job.get("JobID")
        return DriverInfo(pid=pid, job_id=str(job_id) if job_id else None, node_ip=node_ip,
                          entrypoint=entrypoint_text(job.get("Entrypoint")), level=level, why=why)

    def read(self) -> Part:
        now = self._clock()
        if now - self._at >= JOBS_MAX_AGE_S:
            table = self._link.jobs() if self._link is not None else _job_table()
            jobs = alive_drivers(table, os.getpid())
            self._classified = {p: c for p, c in self._classified.items()
                                if any(j["DriverPid"] == p for j in jobs)}
            self._drivers = tuple(self._driver(j) for j in jobs)
            self._at = now
        return Part(drivers=self._drivers)

    def close(self) -> None:
        pass
