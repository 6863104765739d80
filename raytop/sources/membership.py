"""The cluster's node table, followed by subscription instead of read in full every tick.

At 1,000 nodes the full table is several MB of protobuf and ~20 ms of Python to turn into dicts;
nodes join and leave a few times an hour. ``NodeTable`` reads the table once, then subscribes to
the GCS's node channel (``GCS_NODE_INFO_CHANNEL``, the long poll Ray's own subscribers use) and
applies each change as it is published. It reads the whole table again every ``resync_s`` (a
missed message cannot linger) and, while the subscription does not work (an older GCS, a
failover), every ``fallback_s``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from raytop.sources.ray_rpc import GcsClient, RpcError, auth_metadata, node_dict, protos

log = logging.getLogger(__name__)

RESYNC_S = 60.0
FALLBACK_S = 2.0
POLL_TIMEOUT_S = 20.0
RETRY_S = 5.0


class NodeTable:
    def __init__(self, gcs: GcsClient, *, resync_s: float = RESYNC_S,
                 fallback_s: float = FALLBACK_S, subscribe: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._gcs = gcs
        self._resync_s = resync_s
        self._fallback_s = fallback_s
        self._clock = clock
        self._lock = threading.Lock()
        self._by_id: dict[str, dict[str, Any]] = {}
        self._loaded_at: float | None = None
        self._subscribed = False
        self._want_subscription = subscribe
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.version = 0  # bumped on every change: lets readers keep what they derived
        self.full_reads = 0
        self.messages = 0

    # ---- reading -----------------------------------------------------------------------
    def nodes(self) -> list[dict[str, Any]]:
        """Every node the GCS knows, dead ones included (``ray.nodes()``'s shape)."""
        now = self._clock()
        with self._lock:
            age = None if self._loaded_at is None else now - self._loaded_at
            every = self._resync_s if self._subscribed else self._fallback_s
        if age is None or age > every:
            self._load_all(now)
        if self._want_subscription and self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="raytop-membership",
                                            daemon=True)
            self._thread.start()
        with self._lock:
            return list(self._by_id.values())

    def _load_all(self, now: float) -> None:
        table = {n["NodeID"]: n for n in self._gcs.nodes()}
        with self._lock:
            if table != self._by_id:
                self._by_id = table
                self.version += 1
            # Right after `ray start` the GCS may answer with an empty table: ask again next time.
            self._loaded_at = now if table else None
            self.full_reads += 1

    def apply(self, info: Any) -> None:
        """One published ``GcsNodeInfo``: a node joined, changed or died."""
        entry = node_dict(info)
        with self._lock:
            known = self._by_id.get(entry["NodeID"])
            if not entry["Alive"] and known is not None:
                entry = dict(known, Alive=False, Resources={})
            if entry != known:
                self._by_id[entry["NodeID"]] = entry
                self.version += 1
            self.messages += 1

    # ---- the subscription ---------------------------------------------------------------
    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._subscribe_and_poll()
            except Exception as e:  # noqa: BLE001 - back to reading the table in full
                log.debug("node subscription: %s", e)
            with self._lock:
                self._subscribed = False
            self._stop.wait(RETRY_S)

    def _subscribe_and_poll(self) -> None:
        p = protos()
        stub = self._gcs.pubsub
        subscriber = os.urandom(28)  # a random SubscriberID, as Ray's subscribers use
        command = p.pubsub_pb2.Command(channel_type=p.pubsub_pb2.GCS_NODE_INFO_CHANNEL,
                                       subscribe_message={})
        stub.GcsSubscriberCommandBatch(
            p.gcs_service_pb2.GcsSubscriberCommandBatchRequest(subscriber_id=subscriber,
                                                               commands=[command]),
            timeout=10, metadata=auth_metadata())
        publisher, seen = b"", 0
        with self._lock:
            self._subscribed = True
            self._loaded_at = None  # read the table once more: changes before subscribing
        while not self._stop.is_set():
            request = p.gcs_service_pb2.GcsSubscriberPollRequest(
                subscriber_id=subscriber, max_processed_sequence_id=seen, publisher_id=publisher)
            try:
                reply = stub.GcsSubscriberPoll(request, timeout=POLL_TIMEOUT_S,
                                               metadata=auth_metadata())
            except p.grpc.RpcError as e:
                if e.code() == p.grpc.StatusCode.DEADLINE_EXCEEDED:
                    continue  # nothing published: poll again
                raise RpcError(f"node subscription: {e.code().name}") from None
            if reply.publisher_id != publisher:  # a new GCS (failover): start over
                publisher, seen = reply.publisher_id, 0
            for msg in reply.pub_messages:
                if msg.sequence_id <= seen:
                    continue
                seen = msg.sequence_id
                if msg.HasField("node_info_message"):
                    self.apply(msg.node_info_message)

    @property
    def subscribed(self) -> bool:
        with self._lock:
            return self._subscribed

    def close(self) -> None:
        self._stop.set()
