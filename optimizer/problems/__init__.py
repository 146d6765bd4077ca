"""The planning problems: ``Traffic`` (route assignment), ``Fleet`` (TSP / CVRP) and ``Dispatch`` (unit commitment).

Imported lazily: ``from optimizer import problems; problems.Traffic``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.problems.base import Problem
    from optimizer.problems.dispatch.problem import Dispatch
    from optimizer.problems.fleet.problem import Fleet
    from optimizer.problems.traffic import Traffic

__all__ = ["Dispatch", "Fleet", "Problem", "Traffic"]

_LAZY = {"Traffic": "optimizer.problems.traffic", "Problem": "optimizer.problems.base",
         "Dispatch": "optimizer.problems.dispatch.problem", "Fleet": "optimizer.problems.fleet.problem"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'optimizer.problems' has no attribute {name!r}"
    raise AttributeError(msg)
