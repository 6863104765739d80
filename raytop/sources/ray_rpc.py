"""Ray's GCS and raylets over gRPC, without a Ray driver and without importing ``ray``.

``import ray`` costs ~0.6 CPU-seconds and ~50 MB, and ``ray.init`` a core worker of ~250 MB that
ends its own process when the cluster goes away. What raytop needs from the cluster's services is
a handful of read-only calls (the node list, the job table, where a named actor lives, a raylet's
object store stats), so it makes them itself: grpcio and Ray's own generated protobuf modules,
loaded by path under a private package name (they import each other relatively), so that
``ray/__init__.py`` never runs. When ``ray`` is already imported its modules are used instead; the
message classes are the same either way (protobuf keeps one class per message in its pool).

Token authentication (Ray >= 2.59): the token is read where Ray's own clients read it
(``RAY_AUTH_TOKEN``, else the file ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``) and sent as
``authorization: Bearer …`` metadata, as Ray's interceptor does. It is never logged or stored.

Everything that can go wrong raises ``RpcError`` (one line); ``RpcUnavailable`` means this Ray
installation does not have the modules raytop loads (a moved file, no grpcio): the caller falls
back to a driver.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from raytop.sources.base import NeedsDriver

PACKAGE = "_raytop_ray_protos"
_MODULES = ("gcs_pb2", "gcs_service_pb2", "gcs_service_pb2_grpc", "node_manager_pb2",
            "node_manager_pb2_grpc", "pubsub_pb2")
_ACTOR_DEAD = 4  # ActorTableData.DEAD
MAX_MESSAGE_BYTES = 512 * 1024 * 1024  # Ray's own limit; a 1,000-node table is several MB
_lock = threading.Lock()
_protos: SimpleNamespace | None = None


class RpcError(Exception):
    """A call to the cluster failed; the message is one line."""


class RpcUnavailable(RpcError, NeedsDriver):
    """This Ray installation cannot be read without a driver."""


def _generated_dir() -> Path:
    spec = importlib.util.find_spec("ray")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise RpcUnavailable("Ray is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "core" / "generated"


def _load_modules() -> dict[str, ModuleType]:
    if "ray" in sys.modules:
        return {name: importlib.import_module(f"ray.core.generated.{name}") for name in _MODULES}
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_loader(PACKAGE, loader=None, is_package=True)
        if spec is None:
            raise RpcUnavailable("cannot create the protobuf package")
        pkg = importlib.util.module_from_spec(spec)
        pkg.__path__ = [str(_generated_dir())]
        sys.modules[PACKAGE] = pkg
    return {name: importlib.import_module(f"{PACKAGE}.{name}") for name in _MODULES}


def protos() -> SimpleNamespace:
    """Ray's generated modules (``.gcs_pb2``, ``.node_manager_pb2_grpc``, …) and grpc."""
    global _protos
    with _lock:
        if _protos is None:
            try:
                import grpc

                mods = _load_modules()
            except RpcUnavailable:
                raise
            except Exception as e:  # noqa: BLE001 - ImportError, a protobuf version clash, ...
                raise RpcUnavailable(f"cannot load Ray's gRPC modules: {type(e).__name__}: {e}"
                                     [:200]) from None
            _protos = SimpleNamespace(grpc=grpc, **mods)
        return _protos


def _token() -> str | None:
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return None
    token = os.environ.get("RAY_AUTH_TOKEN")
    if token:
        return token.strip()
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def auth_metadata() -> tuple[tuple[str, str], ...]:
    token = _token()
    return (("authorization", f"Bearer {token}"),) if token else ()


def _channel(address: str):
    grpc = protos().grpc
    options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
               ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
               ("grpc.enable_http_proxy", 0)]  # cluster-internal: never through a proxy
    return grpc.insecure_channel(address, options=options)


def _call(method, request, timeout: float, what: str):
    try:
        return method(request, timeout=timeout, metadata=auth_metadata())
    except Exception as e:  # noqa: BLE001 - grpc.RpcError and friends: one line
        code = getattr(e, "code", None)
        detail = getattr(e, "details", None)
        why = f"{code().name}: {detail()}" if callable(code) and callable(detail) else str(e)
        raise RpcError(f"{what}: {why}".splitlines()[0][:300]) from None


def hostport(host: str, port: int) -> str:
    return f"[{host}]:{int(port)}" if ":" in host else f"{host}:{int(port)}"


class GcsClient:
    """Read-only calls to one cluster's GCS."""

    def __init__(self, address: str, timeout: float = 3.0) -> None:
        p = protos()
        self.address = address
        self.timeout = timeout
        self._p = p
        self._channel = _channel(address)
        self._nodes = p.gcs_service_pb2_grpc.NodeInfoGcsServiceStub(self._channel)
        self._jobs = p.gcs_service_pb2_grpc.JobInfoGcsServiceStub(self._channel)
        self._actors = p.gcs_service_pb2_grpc.ActorInfoGcsServiceStub(self._channel)
        self.pubsub = p.gcs_service_pb2_grpc.ControlPlanePubSubGcsServiceStub(self._channel)

    def node_infos(self) -> list[Any]:
        """Every node the GCS knows (``GcsNodeInfo`` messages), dead ones included."""
        reply = _call(self._nodes.GetAllNodeInfo, self._p.gcs_service_pb2.GetAllNodeInfoRequest(),
                      self.timeout, f"GCS {self.address} GetAllNodeInfo")
        return list(reply.node_info_list)

    def nodes(self) -> list[dict[str, Any]]:
        """The node table in the shape ``ray.nodes()`` returns (the keys raytop reads)."""
        return [node_dict(info) for info in self.node_infos()]

    def jobs(self) -> list[dict[str, Any]]:
        """The job table in the shape ``ray._private.state.jobs()`` returns."""
        request = self._p.gcs_service_pb2.GetAllJobInfoRequest(
            skip_submission_job_info_field=True, skip_is_running_tasks_field=True)
        reply = _call(self._jobs.GetAllJobInfo, request, self.timeout,
                      f"GCS {self.address} GetAllJobInfo")
        return [job_dict(job) for job in reply.job_info_list]

    def named_actor_node(self, name: str, namespace: str) -> str | None:
        """Hex id of the node a named, alive actor runs on; None when there is no such actor."""
        request = self._p.gcs_service_pb2.GetNamedActorInfoRequest(name=name,
                                                                   ray_namespace=namespace)
        reply = _call(self._actors.GetNamedActorInfo, request, self.timeout,
                      f"GCS {self.address} GetNamedActorInfo")
        if reply.status.code != 0 or not reply.HasField("actor_table_data"):
            return None  # the GCS answers "not found" in the reply's status
        actor = reply.actor_table_data
        if actor.state == _ACTOR_DEAD:
            return None
        node = bytes(actor.node_id) or bytes(actor.address.node_id)
        return node.hex() or None

    def close(self) -> None:
        try:
            self._channel.close()
        except Exception:  # noqa: BLE001
            pass


def node_dict(info) -> dict[str, Any]:
    alive = info.state == 0  # GcsNodeInfo.ALIVE
    return {
        "NodeID": bytes(info.node_id).hex(),
        "Alive": alive,
        "NodeManagerAddress": info.node_manager_address,
        "NodeManagerHostname": info.node_manager_hostname,
        "NodeManagerPort": info.node_manager_port,
        "MetricsExportPort": info.metrics_export_port,
        "Resources": dict(info.resources_total) if alive else {},
        "IsHeadNode": bool(info.is_head_node),
    }


def job_dict(job) -> dict[str, Any]:
    return {
        "JobID": bytes(job.job_id).hex(),
        "DriverIPAddress": job.driver_address.ip_address,
        "DriverPid": int(job.driver_pid),
        "IsDead": bool(job.is_dead),
        "Entrypoint": job.entrypoint,
        "StartTime": job.start_time,
        "EndTime": job.end_time,
    }


class RayletClient:
    """One raylet's live object store stats (``GetNodeStats``, the call ``ray memory`` makes)."""

    def __init__(self, host: str, port: int, timeout: float = 0.5) -> None:
        p = protos()
        self.address = hostport(host, port)
        self.timeout = timeout
        self._request = p.node_manager_pb2.GetNodeStatsRequest(include_memory_info=False)
        self._channel = _channel(self.address)
        self._stub = p.node_manager_pb2_grpc.NodeManagerServiceStub(self._channel)

    def node_stats(self) -> Any:
        return _call(self._stub.GetNodeStats, self._request, self.timeout,
                     f"raylet {self.address} GetNodeStats")

    def node_stats_future(self) -> Any:
        """The call in flight (``.result()`` raises grpc's error): many raylets are asked at
        once from one thread."""
        return self._stub.GetNodeStats.future(self._request, timeout=self.timeout,
                                              metadata=auth_metadata())

    def store(self) -> Any:
        return self.node_stats().store_stats

    def close(self) -> None:
        try:
            self._channel.close()
        except Exception:  # noqa: BLE001
            pass
