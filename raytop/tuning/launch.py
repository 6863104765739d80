"""Runs the user's script with `raytop run --set` overrides, in the script's own process.

``python -m raytop.tuning.launch SCRIPT ARGS...``: sets the ``DataContext`` overrides on the
current context (datasets created later copy it), wraps Ray Data's public ``Dataset.map_batches``
/ ``map`` / ``flat_map`` / ``filter`` and ``read_datasource`` (every ``read_*`` and ``range`` goes
through it) so that a call whose logical operator is named in an override gets the overridden
arguments, runs the script as ``__main__`` (its ``sys.argv`` and ``sys.path[0]`` as with plain
``python SCRIPT``), and at exit writes which overrides matched which calls to
``RAYTOP_OVERRIDES_REPORT``. Nothing else of the script changes.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import os
import runpy
import sys
from collections.abc import Callable
from typing import Any

ENV = "RAYTOP_OVERRIDES"
REPORT_ENV = "RAYTOP_OVERRIDES_REPORT"
_MAP_METHODS = {"map_batches": "MapBatches", "map": "Map", "flat_map": "FlatMap",
                "filter": "Filter"}


def udf_name(fn: Any) -> str:
    """The name Ray Data gives a UDF in its operator names (``MapBatches(<name>)``)."""
    if inspect.isclass(fn) or inspect.isfunction(fn):
        return fn.__name__
    if inspect.ismethod(fn):
        return f"{fn.__self__.__class__.__name__}.{fn.__name__}"
    if isinstance(fn, functools.partial):
        return udf_name(fn.func)
    return type(fn).__name__


def compute_for(fn: Any, concurrency: Any) -> Any:
    """``concurrency=N`` or ``(MIN, MAX)`` as Ray Data's compute strategy for this UDF."""
    from ray.data import ActorPoolStrategy, TaskPoolStrategy

    if inspect.isclass(fn):
        if isinstance(concurrency, (list, tuple)):
            return ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
        return ActorPoolStrategy(size=int(concurrency))
    size = concurrency[1] if isinstance(concurrency, (list, tuple)) else concurrency
    return TaskPoolStrategy(size=int(size))


class Overrides:
    def __init__(self, settings: list[dict[str, Any]]) -> None:
        self.settings = settings
        self.matches: dict[str, int] = {s["text"]: 0 for s in settings}

    def for_operator(self, name: str) -> list[dict[str, Any]]:
        return [s for s in self.settings if s["operator"] == name]

    def map_kwargs(self, fn: Any, kwargs: dict[str, Any], mine: list[dict[str, Any]]) -> dict:
        out = dict(kwargs)
        for s in mine:
            if s["key"] == "concurrency":
                out.pop("concurrency", None)
                out["compute"] = compute_for(fn, s["value"])
            else:
                out[s["key"]] = s["value"]
            self.matches[s["text"]] += 1
        return out

    def read_kwargs(self, kwargs: dict[str, Any], mine: list[dict[str, Any]]) -> dict:
        out = dict(kwargs)
        for s in mine:
            out[s["key"]] = s["value"]
            self.matches[s["text"]] += 1
        return out

    def apply_context(self) -> None:
        from ray.data import DataContext

        ctx = DataContext.get_current()
        for s in self.settings:
            if s["operator"] == "DataContext":
                setattr(ctx, s["key"], s["value"])
                self.matches[s["text"]] += 1

    def write_report(self) -> None:
        path = os.environ.get(REPORT_ENV)
        if path:
            with open(path, "w", encoding="utf-8") as fh:
                json.dump({"matches": self.matches}, fh)


def _wrap_map(kind: str, original: Callable, overrides: Overrides) -> Callable:
    @functools.wraps(original)
    def wrapper(self, fn, *args, **kwargs):
        mine = overrides.for_operator(f"{kind}({udf_name(fn)})")
        if mine:
            kwargs = overrides.map_kwargs(fn, kwargs, mine)
        return original(self, fn, *args, **kwargs)
    return wrapper


def _wrap_read(original: Callable, overrides: Overrides) -> Callable:
    @functools.wraps(original)
    def wrapper(datasource, *args, **kwargs):
        mine = overrides.for_operator(f"Read{datasource.get_name()}")
        if mine:
            kwargs = overrides.read_kwargs(kwargs, mine)
        return original(datasource, *args, **kwargs)
    return wrapper


def install(overrides: Overrides) -> None:
    import ray.data
    import ray.data.read_api as read_api
    from ray.data import Dataset

    overrides.apply_context()
    for method, kind in _MAP_METHODS.items():
        setattr(Dataset, method, _wrap_map(kind, getattr(Dataset, method), overrides))
    wrapped = _wrap_read(read_api.read_datasource, overrides)
    read_api.read_datasource = wrapped  # what every read_* and range call
    ray.data.read_datasource = wrapped


def main(argv: list[str]) -> None:
    overrides = Overrides(json.loads(os.environ.get(ENV, "{}")).get("overrides", []))
    install(overrides)
    atexit.register(overrides.write_report)
    script = argv[0]
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
