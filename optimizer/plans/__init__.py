"""Plans: what a planner acts on, each re-validated from scratch from what it holds.

* :class:`RoutingPlan` (:mod:`~optimizer.plans.routing`): one route per trip on the road graph;
* :class:`FleetPlan` (:mod:`~optimizer.plans.fleet`): one route per vehicle, leg by leg;
* :class:`DispatchPlan` (:mod:`~optimizer.plans.dispatch`): units' outputs per period, checked by power flow.

:mod:`~optimizer.plans.simulation` replays a routing plan in Eclipse SUMO
(:meth:`RoutingPlan.simulate`), the judge the traffic plans' own model does not write.

A plan never imports the problem that made it: it keeps the graph, trips and
routes, or the units and the day, and checks itself from those.  Light to import: the
geometry and power-flow libraries load inside the methods that use them.
"""

from optimizer.plans.dispatch import DispatchPlan as DispatchPlan
from optimizer.plans.fleet import FleetPlan as FleetPlan
from optimizer.plans.routing import RoutingPlan as RoutingPlan

__all__ = ["DispatchPlan", "FleetPlan", "RoutingPlan"]
