"""Sorting a table by one of its columns, shared by the operators and the nodes tables: the
order (a column, a direction), the rows in that order with unknown values last, the order `o`
moves to and a header click gives, and the header's arrow. Each table says which order a column
starts in (``first``): largest first for figures, A to Z for names, and its own default order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple


class SortOrder(NamedTuple):
    column: str
    descending: bool = False


FirstOrder = Callable[[str], SortOrder]  # a column -> the order a first sort by it gives


def known_first(values: Sequence[Any], descending: bool) -> list[int]:
    """Indices of ``values`` sorted, the unknown (None) ones last; ties keep their order."""
    known = [(v, i) for i, v in enumerate(values) if v is not None]
    known.sort(key=lambda vi: vi[0], reverse=descending)  # stable either way
    return [i for _, i in known] + [i for i, v in enumerate(values) if v is None]


def next_sort(order: SortOrder, columns: Sequence[str], first: FirstOrder) -> SortOrder:
    """The order ``o`` moves to: the next of ``columns`` (after the last, the first again)."""
    at = columns.index(order.column) if order.column in columns else 0
    return first(columns[(at + 1) % len(columns)])


def clicked_sort(order: SortOrder, column: str, first: FirstOrder) -> SortOrder:
    """A click on ``column``'s header: sort by it, or flip the direction when it already is."""
    if column == order.column:
        return SortOrder(column, not order.descending)
    return first(column)


def sort_mark(order: SortOrder, column: str, unmarked: SortOrder | None = None) -> str:
    """The header's arrow on the sorted column (none in the ``unmarked`` order)."""
    if column != order.column or order == unmarked:
        return ""
    return " ▼" if order.descending else " ▲"
