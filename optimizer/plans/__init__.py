"""Plans: what a planner acts on, each re-validated from scratch from what it holds.

* :class:`RoutingPlan` (:mod:`~optimizer.plans.routing`): one route per trip on the road graph;
* :class:`FleetPlan` (:mod:`~optimizer.plans.fleet`): one route per vehicle, leg by leg;
* :class:`DispatchPlan` (:mod:`~optimizer.plans.dispatch`): units' outputs per period, checked by power flow.

A plan never imports the problem that made it: it keeps the graph, trips and
routes, or the units and the day, and checks itself from those.  Imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.plans.dispatch import DispatchPlan
    from optimizer.plans.fleet import FleetPlan
    from optimizer.plans.routing import RoutingPlan

__all__ = ["DispatchPlan", "FleetPlan", "RoutingPlan"]

_LAZY = {"RoutingPlan": "optimizer.plans.routing", "FleetPlan": "optimizer.plans.fleet",
         "DispatchPlan": "optimizer.plans.dispatch"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'optimizer.plans' has no attribute {name!r}"
    raise AttributeError(msg)
