"""The dispatch problem: :class:`~optimizer.problems.dispatch.problem.Dispatch` (unit commitment and
economic dispatch on a grid, as a QUBO and native OR-Tools models) and its continuous-level MILP
(:mod:`~optimizer.problems.dispatch.continuous`), the bound a discrete plan is measured against."""
