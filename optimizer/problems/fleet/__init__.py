"""The fleet problem: :class:`~optimizer.problems.fleet.problem.Fleet` (TSP / CVRP on the road graph),
its position-encoding QUBO (:mod:`~optimizer.problems.fleet.qubo`) and cluster-first,
route-second decomposition (:mod:`~optimizer.problems.fleet.decompose`)."""
