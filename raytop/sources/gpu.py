"""This node's GPUs from NVML, with each GPU process attributed to a Ray Data operator.

NVML reports host pids; each is resolved to an operator from its Ray process title (psutil cmdline
-> ``proctitle``). Cheap enough for a 100 ms interval: NVML calls plus one cmdline read per GPU
process. No usable NVML -> ``SourceAbsent`` with NVML's reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import psutil

from raytop.model import OK, GpuProcess, GpuStats
from raytop.sources import proctitle
from raytop.sources.base import NodeOverlay, Part, SourceAbsent
from raytop.sources.cluster import local_node_identity
from raytop.sources.nvml import Nvml


def operator_of_pid(pid: int) -> str | None:
    """The Ray Data operator a process works for now, from its title; None if none/unreadable."""
    try:
        return proctitle.operator_of(psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        return None


class GpuSource:
    name = "gpu"

    def __init__(self, nvml: Nvml | None = None, *, node_id: str | None = None,
                 ip: str | None = None) -> None:
        self._nvml = nvml if nvml is not None else Nvml()
        if node_id is None and ip is None:
            node_id, ip = local_node_identity()
        self.node_id, self.ip = node_id, ip

    def gpus(self, pid_operators: Mapping[int, str] | None = None) -> tuple[GpuStats, ...]:
        """This node's GPUs now. ``pid_operators`` (e.g. the processes source's map) is tried
        before the pid's own title. Raises SourceAbsent when NVML is not usable."""
        devices = self._nvml.devices()
        if not devices:
            reason = self._nvml.reason
            raise SourceAbsent(reason or "NVML sees no GPU on this node")
        ops: dict[int, str | None] = {}
        out = []
        for stats, procs in devices:
            processes = []
            for p in procs:
                if p.pid not in ops:
                    known = pid_operators.get(p.pid) if pid_operators else None
                    ops[p.pid] = known if known is not None else operator_of_pid(p.pid)
                processes.append(GpuProcess(pid=p.pid, gpu_mem_bytes=p.gpu_mem_bytes,
                                            operator=ops[p.pid]))
            out.append(replace(stats, processes=tuple(processes)))
        return tuple(out)

    def read(self) -> Part:
        gpus = self.gpus()
        return Part(overlays=(NodeOverlay(node_id=self.node_id, ip=self.ip, gpus=gpus,
                                          gpu_source=OK),))

    def close(self) -> None:
        self._nvml.close()

