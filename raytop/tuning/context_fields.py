"""The settings of Ray Data's ``DataContext`` and their current (default) values."""

from __future__ import annotations

from typing import Any


def context_fields() -> dict[str, Any] | None:
    """field name -> default value; None when Ray Data cannot be imported here."""
    try:
        import dataclasses

        from ray.data import DataContext
    except Exception:  # noqa: BLE001 - no Ray here: the script's process checks at start
        return None
    ctx = DataContext()
    return {f.name: getattr(ctx, f.name, None) for f in dataclasses.fields(DataContext)
            if not f.name.startswith("_")}
