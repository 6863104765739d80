"""A node's Prometheus metrics: fetch from its metrics export port, parse, cache.

Every Ray node serves Prometheus text on ``ray.nodes()[i]["MetricsExportPort"]`` at its
``NodeManagerAddress`` (no auth token asked, also with ``include_dashboard=False``). Ray refreshes
the values only every few seconds and the text grows to ~1 MB with Ray Data series (tens of ms to
fetch and parse), so ``MetricsCache`` serves the last parsed copy at once and refreshes it in the
background (on a small pool of threads, ``FETCHERS``) when it is older than ``max_age``.
"""

from __future__ import annotations

import functools
import http.client
import math
import queue
import re
import threading
import time
from collections.abc import Iterable, Mapping

Labels = dict[str, str]
Metrics = dict[str, list[tuple[Labels, float]]]

_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _unescape(v: str) -> str:
    if "\\" not in v:
        return v
    return v.replace("\\\\", "\x00").replace('\\"', '"').replace("\\n", "\n").replace("\x00", "\\")


_LABELS_KEPT = 20_000  # label sets remembered (a node's page has a few dozen distinct ones)
_labels_seen: dict[str, Labels] = {}


def _parse_labels(body: str) -> Labels:
    """The labels of one sample. A page repeats the same label sets family after family (a
    process's in every per-component family, a GPU's in every per-GPU one) and fetch after
    fetch, so each distinct set is parsed once; the dict returned is shared: read it only."""
    labels = _labels_seen.get(body)
    if labels is None:
        labels = {k: _unescape(v) for k, v in _LABEL_RE.findall(body)}
        if len(_labels_seen) >= _LABELS_KEPT:
            _labels_seen.clear()
        _labels_seen[body] = labels
    return labels


def parse_prometheus(text: str, prefixes: Iterable[str] | None = None) -> Metrics:
    """Prometheus text exposition -> {metric name: [(labels, value), ...]}.

    ``prefixes`` keeps only metrics whose name starts with one of them (cheaper on big pages).
    Comment lines and malformed lines are skipped; values keep NaN/Inf as floats.
    """
    pre = tuple(prefixes) if prefixes is not None else None
    out: Metrics = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        if pre is not None and not line.startswith(pre):
            continue
        brace = line.find("{")
        if brace >= 0:
            close = line.rfind("}")
            if close < brace:
                continue
            name = line[:brace].strip()
            labels = _parse_labels(line[brace + 1:close])
            rest = line[close + 1:].split()
        else:
            parts = line.split()
            if len(parts) < 2:
                continue
            name, labels, rest = parts[0], {}, parts[1:]
        if not rest or not name:
            continue
        try:
            value = float(rest[0])
        except ValueError:
            continue
        out.setdefault(name, []).append((labels, value))
    return out


Blocks = dict[str, tuple[int, Metrics]]  # family -> (hash of its block and what was read of it, the samples)


def parse_families(text: str, names: Iterable[str], seen: Blocks | None = None) -> Metrics:
    """Only the metric families ``names`` (their ``_bucket``/``_sum`` kin excluded; a histogram's
    buckets are read when ``<family>_bucket`` is one of the names).

    Prometheus text gives each family one block that starts with ``# HELP <name> ``; cutting the
    page at those markers (one pass in C) and parsing only the wanted blocks costs ~1 ms on a
    1.5 MB page where the line-by-line parse costs ~15 ms. A page without HELP lines is parsed
    line by line.

    ``seen`` (the same endpoint's blocks of the last call, updated here): a block whose text is
    unchanged is not parsed again. Ray exports its series every few seconds, so a page fetched
    more often repeats most of them; the samples returned are shared with ``seen``: read only.
    """
    wanted = set(names)
    if "# HELP " not in text:
        return parse_prometheus(text, exact_name_prefixes(wanted))
    out: Metrics = {}
    kept: Blocks = {}
    for block in text.split("\n# HELP "):
        if block.startswith("# HELP "):
            block = block[7:]
        name = block[:block.find(" ")]
        here = [n for n in (name, name + "_bucket") if n in wanted]
        if not here:
            continue
        digest = hash((block, *here))  # what is read of the block depends on ``here`` too
        last = seen.get(name) if seen is not None else None
        parsed = last[1] if last is not None and last[0] == digest else parse_prometheus(
            block, exact_name_prefixes(here))
        kept[name] = (digest, parsed)
        for fam, samples in parsed.items():
            out.setdefault(fam, []).extend(samples)
    if seen is not None:
        seen.clear()
        seen.update(kept)
    return out


def exact_name_prefixes(names: Iterable[str]) -> tuple[str, ...]:
    """Line prefixes that select exactly these metrics (not their ``_bucket``/``_sum`` kin)."""
    return _prefixes(tuple(names))


@functools.lru_cache(maxsize=512)
def _prefixes(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({n + "{" for n in names} | {n + " " for n in names}))


FETCHERS = 8  # threads fetching pages: bounded, whatever the number of nodes
MAX_PAGE_BYTES = 64 * 1024 * 1024  # a node's page is ~1 MB; anything this big is not Ray's


def fetch_metrics_text(host: str, port: int, timeout: float = 1.0) -> str:
    """The raw Prometheus text of one node; raises OSError on failure.

    Plain ``http.client``: cluster-internal endpoints are never reached through a proxy the
    environment may name, and urllib's opener machinery costs ~0.1 ms of CPU per page (200 pages
    a second at 1,000 nodes)."""
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        # gzip: a 1.5 MB page travels as ~35 KB (the exporter compresses when asked).
        conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise OSError(f"metrics page of {host}:{port}: HTTP {resp.status} {resp.reason}")
        body = resp.read(MAX_PAGE_BYTES + 1)
        if resp.getheader("Content-Encoding") == "gzip":
            body = _gunzip(body)
    except http.client.HTTPException as e:
        raise OSError(f"metrics page of {host}:{port}: {type(e).__name__}: {e}") from None
    finally:
        conn.close()
    if len(body) > MAX_PAGE_BYTES:
        raise OSError(f"metrics page of {host}:{port} is larger than {MAX_PAGE_BYTES} bytes")
    return body.decode("utf-8", errors="replace")


def _gunzip(body: bytes) -> bytes:
    import zlib

    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = inflate.decompress(body, MAX_PAGE_BYTES + 1)  # a bomb stops at the cap
    return out


def value(metrics: Metrics | None, name: str, where: Mapping[str, str] | None = None,
          agg: str = "sum") -> float | None:
    """One number from parsed metrics: the ``agg`` ("sum" | "max" | "first") of the samples of
    ``name`` whose labels include ``where``; None when there is no such sample or it is not finite.
    """
    if not metrics:
        return None
    vals = [v for labels, v in metrics.get(name, ())
            if not where or all(labels.get(k) == w for k, w in where.items())]
    vals = [v for v in vals if math.isfinite(v)]
    if not vals:
        return None
    if agg == "max":
        return max(vals)
    if agg == "first":
        return vals[0]
    return sum(vals)


class _Entry:
    __slots__ = ("metrics", "fetched_at", "error", "refreshing", "done", "version",
                 "failing_since", "blocks")

    def __init__(self) -> None:
        self.version = 0  # bumped by every successful fetch
        self.failing_since: float | None = None  # first of the failures since the last answer
        self.metrics: Metrics | None = None
        self.fetched_at = 0.0
        self.error: str | None = None
        self.refreshing = False
        self.done = threading.Event()
        self.blocks: Blocks = {}  # the families of the last page, to skip those unchanged


class MetricsCache:
    """Parsed metrics per node endpoint, refreshed in the background.

    ``get`` never waits longer than ``first_wait`` (only while an endpoint has never answered) and
    returns None when the endpoint has not answered yet or failed last time (``error`` says why).
    Once a reader has said which metrics it uses (``want``), only those are parsed: a node's page
    is ~1 MB, mostly histogram buckets and per-worker series raytop does not read.
    """

    def __init__(self, *, max_age: float = 2.0, timeout: float = 2.0, first_wait: float = 0.05,
                 prefixes: Iterable[str] | None = ("ray_",), fetchers: int = FETCHERS) -> None:
        self.max_age = max_age
        self.timeout = timeout
        self.first_wait = first_wait
        self.prefixes = tuple(prefixes) if prefixes is not None else None
        self._wanted: set = set()
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, int], _Entry] = {}
        self._fetchers = fetchers
        self._queue: queue.SimpleQueue | None = None  # (key, entry) to fetch; None: stop

    def want(self, names: Iterable[str]) -> None:
        """Parse (at least) these metrics from now on, and no others."""
        names = set(names)
        with self._lock:
            if names <= self._wanted:
                return
            self._wanted |= names
            self.prefixes = exact_name_prefixes(self._wanted)

    def _refresh(self, key: tuple[str, int], entry: _Entry) -> None:
        try:
            text = fetch_metrics_text(key[0], key[1], timeout=self.timeout)
            with self._lock:
                wanted = set(self._wanted)
            # one fetch of an endpoint at a time (``refreshing``): its blocks are this thread's
            parsed = (parse_families(text, wanted, entry.blocks) if wanted
                      else parse_prometheus(text, self.prefixes))
            with self._lock:
                entry.metrics, entry.error = parsed, None
                entry.fetched_at = time.monotonic()
                entry.version += 1
                entry.failing_since = None
        except Exception as e:  # noqa: BLE001 - any failure means "unreachable now"
            with self._lock:
                entry.metrics = None
                entry.error = f"{type(e).__name__}: {e}"
                entry.fetched_at = time.monotonic()
                if entry.failing_since is None:
                    entry.failing_since = entry.fetched_at
        finally:
            with self._lock:
                entry.refreshing = False
            entry.done.set()

    def get(self, host: str, port: int, wait: float | None = None,
            max_age: float | None = None) -> Metrics | None:
        """The endpoint's last parsed page; ``wait`` (default ``first_wait``) bounds the wait
        for an endpoint that has never answered, ``max_age`` (default the cache's) how old a
        page may be before it is fetched again."""
        key = (host, int(port))
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
            age = time.monotonic() - entry.fetched_at
            stale = age > (self.max_age if max_age is None else max_age)
            start = stale and not entry.refreshing
            if start:
                entry.refreshing = True
        if start:
            self._submit(key, entry)
        if not entry.done.is_set():
            entry.done.wait(self.first_wait if wait is None else wait)
        with self._lock:
            return entry.metrics

    def _submit(self, key: tuple[str, int], entry: _Entry) -> None:
        with self._lock:
            if self._queue is None:  # daemon threads: a fetch in flight never holds up exit
                self._queue = queue.SimpleQueue()
                for i in range(self._fetchers):
                    threading.Thread(target=self._fetch_loop, args=(self._queue,), daemon=True,
                                     name=f"raytop-metrics-{i}").start()
            self._queue.put((key, entry))

    def _fetch_loop(self, todo: queue.SimpleQueue) -> None:
        while True:
            job = todo.get()
            if job is None:
                return
            self._refresh(*job)

    def close(self) -> None:
        """Stops the fetching threads (a later ``get`` starts them again)."""
        with self._lock:
            todo, self._queue = self._queue, None
        if todo is not None:
            for _ in range(self._fetchers):
                todo.put(None)

    def version(self, host: str, port: int) -> int:
        """How many times the endpoint's page was fetched and parsed (0: never)."""
        with self._lock:
            entry = self._entries.get((host, int(port)))
            return entry.version if entry is not None else 0

    def failing_for(self, host: str, port: int) -> float | None:
        """Seconds the endpoint has failed every fetch since; None while it answers (or was
        never asked). A node's agent starts after its raylet: a failure alone means little."""
        with self._lock:
            entry = self._entries.get((host, int(port)))
            since = entry.failing_since if entry is not None else None
        return None if since is None else time.monotonic() - since

    def error(self, host: str, port: int) -> str | None:
        with self._lock:
            entry = self._entries.get((host, int(port)))
            return entry.error if entry is not None else None

    def forget_except(self, keys: Iterable[tuple[str, int]]) -> None:
        """Drop entries of endpoints no longer in the cluster."""
        keep = {(h, int(p)) for h, p in keys}
        with self._lock:
            for k in [k for k in self._entries if k not in keep]:
                del self._entries[k]


_shared: MetricsCache | None = None
_shared_lock = threading.Lock()


def shared_cache() -> MetricsCache:
    """One cache per raytop process, so the cluster and stats sources fetch each node once."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = MetricsCache()
        return _shared


def node_endpoint(node: Mapping) -> tuple[str, int] | None:
    """(host, port) of a ``ray.nodes()`` entry's metrics endpoint, when it has one."""
    host = node.get("NodeManagerAddress")
    port = node.get("MetricsExportPort")
    if not host or not port or not node.get("Alive", node.get("alive", False)):
        return None
    return host, int(port)
