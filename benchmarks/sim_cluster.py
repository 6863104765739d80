"""A fake Ray cluster of N nodes on one machine, served at real message sizes over the protocols
raytop reads, so that raytop's own read path can be measured at 1,000 nodes.

- The GCS (gRPC, at 127.0.0.1): ``GetAllNodeInfo`` answers N ``GcsNodeInfo`` messages built from
  Ray's generated protos with the fields a real node carries; the node channel subscription is
  accepted and its poll long-polls without news (a cluster whose membership does not change);
  the job table is empty and no named actor exists (no Ray Data job: the ``stats`` source is
  absent).
- The raylets (gRPC ``NodeManagerService.GetNodeStats``): a reply with the core worker stats of
  ``WORKERS`` workers and the object store stats, as a busy raylet answers.
- The dashboard agents' metrics pages (HTTP, gzip when asked, as ``prometheus_client`` serves
  them): ~120 KB of Prometheus text per node with the families raytop reads among the
  histograms and per-component series a Ray node exports. The values change every 5 s, as the
  reporter refreshes them.

Linux routes all of 127.0.0.0/8 to loopback, so servers bound on 0.0.0.0 answer at any 127.x.y.z:
node ``i`` has the address ``node_ip(i)``. All raylets share one gRPC port (one server), except
with ``distinct=True`` (small clusters, tests): a server per node, so that each raylet serves its
own figures (``store_used(i)``). The metrics server tells the nodes apart by the Host header.

    python -m benchmarks.sim_cluster serve --nodes 1000 [--distinct]   # prints {"gcs": ...}
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GiB = 1 << 30
MiB = 1 << 20
WORKERS = 12  # core workers per node in GetNodeStats (a node of 8-16 busy workers)
GPUS = 8
EPOCH_S = 5.0  # Ray's reporter refreshes the page's values every 5 s
VARIANTS = 3  # distinct pages per node, served in turn (each built and compressed once)
SESSION = "session_2025-10-09_09-12-33_123456_4242"
GRPC_METHODS = tuple(f"{svc}.grpc_server.{m}" for svc, ms in (
    ("NodeManagerService", ("RequestWorkerLease", "ReturnWorkerLease", "GetNodeStats",
                            "PinObjectIDs", "ReportWorkerBacklog", "PrepareBundleResources",
                            "CommitBundleResources", "CancelWorkerLease", "GetResourceLoad",
                            "GetObjectsInfo", "NotifyGCSRestart", "ShutdownRaylet")),
    ("ObjectManagerService", ("Push", "Pull", "FreeObjects")),
    ("CoreWorkerService", ("PushTask", "GetObjectStatus", "WaitForActorRefDeleted",
                           "PubsubLongPolling", "PubsubCommandBatch", "UpdateObjectLocationBatch",
                           "GetObjectLocationsOwner", "KillActor", "LocalGC", "PlasmaObjectReady")),
) for m in ms)
BUCKETS = ("0.1", "1", "10", "100", "1000", "10000", "+Inf")
OPERATORS = ("ReadParquet->MapBatches(decode)", "MapBatches(Embed)", "MapBatches(Model)",
             "Write")


def node_ip(i: int) -> str:
    return f"127.{10 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}"


def node_id(i: int) -> bytes:
    return (b"sim-node" + i.to_bytes(4, "big")).ljust(28, b"\x00")


def store_used(i: int, epoch: int = 0) -> int:
    """The object store bytes node ``i``'s raylet reports (``distinct`` servers)."""
    return (1 + i % 37) * 64 * MiB + (epoch % 7) * MiB


def _protos():
    """Ray's generated modules as raytop loads them (``ray_rpc.protos``), plus ``common_pb2``
    (loaded with them: ``node_manager_pb2`` imports it)."""
    import importlib

    from raytop.sources.ray_rpc import protos

    p = protos()
    if not hasattr(p, "common_pb2"):
        p.common_pb2 = importlib.import_module(p.node_manager_pb2.__name__.rsplit(".", 1)[0]
                                               + ".common_pb2")
    return p


# ---- the GCS ------------------------------------------------------------------------------
def node_infos(n: int, raylet_port, metrics_port: int) -> list:
    p = _protos()
    out = []
    for i in range(n):
        ip = node_ip(i)
        info = p.gcs_pb2.GcsNodeInfo(
            node_id=node_id(i), node_manager_address=ip, node_manager_hostname=f"sim-{i:04d}",
            raylet_socket_name=f"/tmp/ray/{SESSION}/sockets/raylet",
            object_store_socket_name=f"/tmp/ray/{SESSION}/sockets/plasma_store",
            node_manager_port=raylet_port(i), object_manager_port=40000 + i % 1000,
            metrics_export_port=metrics_port, runtime_env_agent_port=50000,
            metrics_agent_port=50001, dashboard_agent_listen_port=52365,
            state=0, is_head_node=i == 0, node_name=ip, instance_id=f"i-{i:017x}",
            node_type_name="gpu-worker" if i else "head", instance_type_name="p5.48xlarge",
            start_time_ms=1_760_000_000_000 + i, temp_dir="/tmp/ray", session_dir=f"/tmp/ray/{SESSION}")
        info.resources_total.update({"CPU": 192.0, "GPU": float(GPUS), "memory": 1800.0 * GiB,
                                     "object_store_memory": 200.0 * GiB, f"node:{ip}": 1.0,
                                     "accelerator_type:H100": 1.0})
        if i == 0:
            info.resources_total["node:__internal_head__"] = 1.0
        info.labels.update({"ray.io/node-id": node_id(i).hex(), "ray.io/market-type": "on-demand",
                            "ray.io/availability-zone": f"us-west-2{'abc'[i % 3]}"})
        out.append(info)
    return out


def _gcs_handlers(n: int, raylet_port, metrics_port: int, stop: threading.Event) -> list:
    import grpc

    p = _protos()
    s = p.gcs_service_pb2
    nodes = s.GetAllNodeInfoReply(node_info_list=node_infos(n, raylet_port, metrics_port),
                                  total=n).SerializeToString()
    jobs = s.GetAllJobInfoReply().SerializeToString()
    no_actor = s.GetNamedActorInfoReply(status=s.GcsStatus(code=17, message="not found"))
    subscribed = s.GcsSubscriberCommandBatchReply().SerializeToString()
    publisher = b"sim-gcs-publisher"

    def poll(request: bytes, context) -> bytes:
        # A long poll that has nothing to tell: answer just before the caller gives up.
        stop.wait(max(0.0, (context.time_remaining() or 1.0) - 0.5))
        return s.GcsSubscriberPollReply(publisher_id=publisher).SerializeToString()

    def const(body: bytes):
        return grpc.unary_unary_rpc_method_handler(lambda req, ctx: body)

    return [
        grpc.method_handlers_generic_handler("ray.rpc.NodeInfoGcsService",
                                             {"GetAllNodeInfo": const(nodes)}),
        grpc.method_handlers_generic_handler("ray.rpc.JobInfoGcsService",
                                             {"GetAllJobInfo": const(jobs)}),
        grpc.method_handlers_generic_handler(
            "ray.rpc.ActorInfoGcsService", {"GetNamedActorInfo": const(no_actor.SerializeToString())}),
        grpc.method_handlers_generic_handler(
            "ray.rpc.ControlPlanePubSubGcsService",
            {"GcsSubscriberCommandBatch": const(subscribed),
             "GcsSubscriberPoll": grpc.unary_unary_rpc_method_handler(poll)}),
    ]


# ---- the raylets --------------------------------------------------------------------------
def node_stats_reply(i: int, epoch: int) -> bytes:
    """A busy raylet's ``GetNodeStatsReply``: ``WORKERS`` core workers (one driver-owned
    worker pool of actors and tasks) and the object store stats."""
    p = _protos()
    workers = []
    for w in range(WORKERS):
        stats = p.common_pb2.CoreWorkerStats(
            ip_address=node_ip(i), port=10000 + w, pid=100_000 + w, worker_type=0,
            worker_id=bytes([w]) * 28, job_id=b"\x01\x00\x00\x00", language=0,
            actor_id=bytes([w]) * 16 if w % 2 else b"", num_pending_tasks=w % 3,
            num_object_refs_in_scope=40 + w, num_in_plasma=12 + w, num_local_objects=30 + w,
            used_object_store_memory=(w + 1) * 32 * MiB, task_queue_length=w % 4,
            num_executed_tasks=1000 * (epoch + 1) + w, num_owned_objects=50 + w,
            num_owned_actors=w % 2, num_running_tasks=1)
        stats.used_resources["CPU"].resource_slots.add(slot=w % 8, allocation=1.0)
        if w % 2:
            stats.used_resources["GPU"].resource_slots.add(slot=w % 8, allocation=1.0)
        workers.append(stats)
    store = p.node_manager_pb2.ObjectStoreStats(
        object_store_bytes_used=store_used(i, epoch), object_store_bytes_avail=200 * GiB,
        spilled_bytes_total=(i % 5) * GiB, spilled_objects_total=(i % 5) * 100,
        spill_time_total_s=1.5 * (i % 5), restored_bytes_total=GiB, restored_objects_total=10,
        restore_time_total_s=0.2, object_store_bytes_primary_copy=store_used(i, epoch) // 2,
        num_local_objects=400 + i % 50, num_object_store_primary_copies=200,
        cumulative_created_objects=10_000 * (epoch + 1), cumulative_created_bytes=100 * GiB)
    reply = p.node_manager_pb2.GetNodeStatsReply(core_workers_stats=workers,
                                                 num_workers=WORKERS, store_stats=store)
    return reply.SerializeToString()


def _raylet_handler(replies):
    """``replies()`` -> the serialized reply to answer now."""
    import grpc

    return grpc.method_handlers_generic_handler(
        "ray.rpc.NodeManagerService",
        {"GetNodeStats": grpc.unary_unary_rpc_method_handler(lambda req, ctx: replies())})


def _epoch() -> int:
    return int(time.time() / EPOCH_S)


# ---- the metrics pages --------------------------------------------------------------------
def metrics_page(i: int, epoch: int) -> str:
    """Node ``i``'s Prometheus page: per-component and per-node series, GPUs, the object
    store, and the gRPC latency histograms that make most of a real page's size."""
    ip, v = node_ip(i), epoch % VARIANTS
    base = f'ip="{ip}",SessionName="{SESSION}",Version="2.60.0"'
    comps = [("raylet", 1), ("ray::DashboardAgent", 2), ("ray::RuntimeEnvAgent", 3),
             ("ray::IDLE", 4)] + [
        (f"ray::MapWorker({OPERATORS[w % len(OPERATORS)]})" + (".submit" if w % 3 else ""),
         10 + w) for w in range(WORKERS)]
    lines: list[str] = []

    def family(name: str, kind: str, rows) -> None:
        lines.append(f"# HELP {name} {name.replace('_', ' ')} of the node.")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{{{labels}}} {value}" for labels, value in rows)

    for name, scale in (("ray_component_uss_bytes", 1.0), ("ray_component_rss_bytes", 1.3),
                        ("ray_component_mem_shared_bytes", 0.2), ("ray_component_cpu_percentage", 0.0),
                        ("ray_component_num_fds", 0.0)):
        family(name, "gauge", [(f'Component="{c}",pid="{pid}",{base}',
                                f"{(pid + v + 1) * 100 * MiB * scale:.1f}" if scale
                                else f"{(pid * 7 + v) % 100}.0") for c, pid in comps])
    family("ray_component_gpu_memory_mb", "gauge",
           [(f'Component="{c}",pid="{pid}",{base}', f"{2048.0 + 64 * v}")
            for c, pid in comps if c.startswith("ray::MapWorker(MapBatches(Model")])
    node_rows = {"ray_node_cpu_utilization": f"{(i * 13 + v * 29) % 100}.5",
                 "ray_node_cpu_count": "192.0", "ray_node_mem_used": f"{(400 + i % 50 + v) * GiB}",
                 "ray_node_mem_available": f"{1400 * GiB}", "ray_node_mem_total": f"{1800 * GiB}",
                 "ray_node_mem_shared_bytes": f"{20 * GiB}", "ray_node_disk_usage": f"{300 * GiB}",
                 "ray_node_disk_free": f"{700 * GiB}", "ray_node_disk_utilization_percentage": "30.0",
                 "ray_node_network_sent": "1.2e+12", "ray_node_network_received": "1.5e+12",
                 "ray_node_network_send_speed": "1.0e+08", "ray_node_network_receive_speed": "2.0e+08",
                 "ray_node_disk_io_read_speed": "5.0e+07", "ray_node_disk_io_write_speed": "3.0e+07",
                 "ray_object_store_used_memory": f"{store_used(i, epoch)}",
                 "ray_object_store_available_memory": f"{200 * GiB - store_used(i, epoch)}",
                 "ray_object_store_num_local_objects": "412.0"}
    for name, value in node_rows.items():
        family(name, "gauge", [(base, value)])
    gpu = [f'GpuDeviceName="NVIDIA H100 80GB HBM3",GpuIndex="{g}",GpuUuid="GPU-{i:05d}-{g}",{base}'
           for g in range(GPUS)]
    for name, value in (("ray_node_gpus_utilization", lambda g: f"{(g * 11 + v * 7) % 100}.0"),
                        ("ray_node_gram_used", lambda g: f"{40000 + g * 100 + v}.0"),
                        ("ray_node_gram_available", lambda g: f"{41920 - g * 100 - v}.0"),
                        ("ray_node_gpu_power_milliwatts", lambda g: f"{500000 + g * 1000}.0"),
                        ("ray_node_gpu_temperature_celsius", lambda g: f"{60 + g}.0")):
        family(name, "gauge", [(gpu[g], value(g)) for g in range(GPUS)])
    for name in ("ray_grpc_server_req_process_time_ms", "ray_grpc_server_req_handling_time_ms"):
        lines.append(f"# HELP {name} Request latency in grpc server")
        lines.append(f"# TYPE {name} histogram")
        for method in GRPC_METHODS:
            labels = f'Method="{method}",Component="raylet",NodeAddress="{ip}",{base}'
            lines.extend(f'{name}_bucket{{{labels},le="{le}"}} {k * 10 + v}'
                         for k, le in enumerate(BUCKETS))
            lines.append(f"{name}_count{{{labels}}} {60 + v}")
            lines.append(f"{name}_sum{{{labels}}} {123.4 + v}")
    return "\n".join(lines) + "\n"


class _Pages:
    """Every node's page, gzipped, built once per variant."""

    def __init__(self, n: int) -> None:
        self.by_ip = {node_ip(i): i for i in range(n)}
        self._cache: dict[tuple[int, int], tuple[bytes, bytes]] = {}
        self._lock = threading.Lock()

    def body(self, ip: str, gzipped: bool) -> bytes | None:
        i = self.by_ip.get(ip)
        if i is None:
            return None
        key = (i, _epoch() % VARIANTS)
        with self._lock:
            found = self._cache.get(key)
        if found is None:
            text = metrics_page(i, key[1]).encode()
            found = (text, gzip.compress(text, compresslevel=6))
            with self._lock:
                self._cache[key] = found
        return found[1] if gzipped else found[0]


def _metrics_server(pages: _Pages) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            gz = "gzip" in (self.headers.get("Accept-Encoding") or "")
            body = pages.body(host, gz) if self.path == "/metrics" else None
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            if gz:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    return server


# ---- the whole cluster --------------------------------------------------------------------
class SimCluster:
    """The fake cluster, served from this process until ``close``."""

    def __init__(self, nodes: int, *, distinct: bool = False) -> None:
        import grpc

        self.nodes = nodes
        self._stop = threading.Event()
        self._http = _metrics_server(_Pages(nodes))
        threading.Thread(target=self._http.serve_forever, daemon=True,
                         name="sim-metrics").start()
        metrics_port = self._http.server_address[1]
        self._servers = []
        main = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                           options=[("grpc.max_send_message_length", 512 * MiB)])
        port = main.add_insecure_port("0.0.0.0:0")
        ports = {i: port for i in range(nodes)}
        if distinct:  # a server per raylet, each answering its node's figures
            for i in range(nodes):
                server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
                ports[i] = server.add_insecure_port("0.0.0.0:0")
                server.add_generic_rpc_handlers([_raylet_handler(
                    lambda i=i: node_stats_reply(i, _epoch() % VARIANTS))])
                self._servers.append(server)
        else:  # one reply for every raylet: the server cannot tell which address was asked
            shared = {e: node_stats_reply(1, e) for e in range(VARIANTS)}
            main.add_generic_rpc_handlers([_raylet_handler(lambda: shared[_epoch() % VARIANTS])])
        main.add_generic_rpc_handlers(_gcs_handlers(nodes, ports.__getitem__, metrics_port,
                                                    self._stop))
        self._servers.append(main)
        for server in self._servers:
            server.start()
        self.address = f"127.0.0.1:{port}"
        self.metrics_port = metrics_port

    def close(self) -> None:
        self._stop.set()
        for server in self._servers:
            server.stop(grace=None)
        self._http.shutdown()
        self._http.server_close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sim_cluster")
    ap.add_argument("command", choices=("serve",))
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--distinct", action="store_true", help="a raylet server per node")
    args = ap.parse_args(argv)
    if args.nodes < 1 or args.nodes > 250 * 250:
        print("sim_cluster: --nodes must be 1..62500", file=sys.stderr)
        return 2
    sim = SimCluster(args.nodes, distinct=args.distinct)
    print(json.dumps({"gcs": sim.address, "metrics_port": sim.metrics_port}), flush=True)
    try:
        sys.stdin.read()  # serve until the parent closes our stdin (or dies)
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
