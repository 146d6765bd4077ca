"""One entry point from problems to solvers: ``solve(problem, "qaoa", depth=2)``, and the table of solvers.

``optimizer`` knows solvers only by name and options.  :data:`SOLVERS` holds every
name ``solve`` accepts: the problems it applies to, how it is called on each, its
CLI flags and a line on what it does.  A solver is called one of three ways:

* ``"native"``: the problem's own solver method (:meth:`Problem.native_solvers`,
  e.g. traffic's ``shortest`` baseline, fleet's ``routing``);
* ``"cpsat"``: CP-SAT on the problem's own integer model (``on="native"``, the
  default), or on the QUBO with ``on="qubo"``;
* ``"qubo"``: the solver registered under that name in :mod:`solvers.registry`
  (``exact``, ``anneal``, ``cpsat``, ``qaoa``, ``decompose``) on ``problem.to_qubo()``.

Every request, whichever way it is called, is checked once by
:func:`check_request` before anything runs: the name, that it applies to the
problem, its options, ``seed`` and ``time_limit_s``.

Examples
--------
>>> from optimizer import solver_names
>>> "qaoa" in solver_names() and "shortest" in solver_names()
True
>>> sorted(solver_names("fleet"))
['anneal', 'cpsat', 'decompose', 'exact', 'qaoa', 'routing']
>>> applies("routing", "traffic"), folder_label("cpsat", {"on": "qubo"})
(False, 'cpsat-qubo')
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from optimizer.errors import InvalidOptionError, UnknownSolverError

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.problems.base import Problem
    from solvers.solution import Solution

__all__ = [
    "DEFAULT_SOLVERS",
    "PROBLEM_KINDS",
    "SOLVERS",
    "SolverEntry",
    "applies",
    "baseline_solver",
    "check_request",
    "folder_label",
    "solve",
    "solver_entry",
    "solver_names",
]

#: The problem kinds, in the order the CLI lists them.
PROBLEM_KINDS = ("traffic", "fleet", "dispatch")

#: How a solver is called on a problem (see the module docstring).
Call = Literal["native", "cpsat", "qubo"]

_QAOA_FLAGS = ("depth", "backend", "shots", "maxiter", "optimizer", "mixer", "init", "qaoa_objective", "cvar_alpha",
               "restarts", "shots_per_eval", "device_optimise", "device_refine", "backend_options", "threads", "warm_start",
               "warm_relaxation", "warm_epsilon", "recursive")


@dataclass(frozen=True)
class SolverEntry:
    """One solver name: where it applies, how it is called there, and how the CLI feeds it.

    Attributes
    ----------
    name : str
    calls : mapping
        Problem kind -> how the solver is called on it (``"native"``, ``"cpsat"``, ``"qubo"``).
        The solver applies to exactly these problems.
    flags : tuple of str
        ``cityopt run`` flags (argparse destinations) that become its options.
    native_options : tuple of str
        Option names its ``"native"`` calls take (none: it takes no options); the
        other calls' options are checked by the registered solver's options class.
    model_option : bool
        It takes ``on="native"|"qubo"`` (CP-SAT's model); runs with ``on="qubo"``
        go to the folder ``<name>-qubo``.
    native_check : str
        ``"module:function"`` that checks the ``"native"`` calls' option values
        (``function(options)``, raising InvalidOptionError), so they fail with
        the other checks, before any solver runs.
    description : str
        One line; QUBO solvers' lines come from :mod:`solvers.registry`.
    baseline_for : tuple of str
        The problem kinds whose verdicts and reports measure every plan against
        this solver's (traffic: ``shortest``, everyone on the shortest path).
    """

    name: str
    calls: Mapping[str, Call]
    flags: tuple[str, ...] = ()
    native_options: tuple[str, ...] = ()
    model_option: bool = False
    native_check: str = ""
    description: str = field(default="", compare=False)
    baseline_for: tuple[str, ...] = ()

    @property
    def problems(self) -> tuple[str, ...]:
        """The problem kinds the solver applies to, in :data:`PROBLEM_KINDS` order."""
        return tuple(k for k in PROBLEM_KINDS if k in self.calls)

    def folder(self, options: Mapping[str, Any]) -> str:
        """The run folder's name for these options (``cpsat-qubo`` for CP-SAT on the QUBO)."""
        if self.model_option and options.get("on") == "qubo":
            return f"{self.name}-qubo"
        return self.name


def _entries() -> dict[str, SolverEntry]:
    from solvers.registry import available_solvers

    qubo = available_solvers()
    every = dict.fromkeys(PROBLEM_KINDS, "qubo")
    table = [
        SolverEntry("exact", every, (), description=qubo["exact"]),
        SolverEntry("anneal", every, ("sweeps", "reads"), description=qubo["anneal"]),
        SolverEntry("cpsat", {"traffic": "cpsat", "fleet": "qubo", "dispatch": "cpsat"}, ("on", "workers"),
                    model_option=True,
                    description=qubo["cpsat"] + "; by default (on='native') on the problem's own integer model "
                                                "where it has one (traffic, dispatch)"),
        SolverEntry("qaoa", every, _QAOA_FLAGS, description=qubo["qaoa"]),
        SolverEntry("decompose", {"traffic": "qubo", "fleet": "native", "dispatch": "qubo"},
                    ("inner", "sub_size", "cluster_size"),
                    native_options=("inner", "cluster_size", "inner_options", "improve", "sub_size", "max_rounds",
                                    "max_inner_calls"),
                    native_check="optimizer.problems.fleet.decompose:check_options",
                    description=qubo["decompose"] + "; on fleet: cluster first (sweep), route each cluster "
                                                    "with the inner solver, then improve"),
        SolverEntry("shortest", {"traffic": "native"}, baseline_for=("traffic",),
                    description="traffic baseline: every trip on its shortest path by travel time"),
        SolverEntry("ue", {"traffic": "native"}, native_options=("max_rounds",),
                    native_check="optimizer.problems.traffic:check_ue_options",
                    description="traffic baseline: the user equilibrium over the candidate routes (best "
                                "responses under BPR travel time until no trip can gain alone)"),
        SolverEntry("milp", {"dispatch": "native"}, native_options=("max_ac_iterations",),
                    native_check="optimizer.problems.dispatch.problem:check_dispatch_options",
                    flags=("max_ac_iterations",),
                    description="dispatch: the discrete model as a MathOpt MILP on HiGHS (bound in EUR); with "
                                "--ac, commitments without an AC dispatch are cut and the MILP solved again"),
        SolverEntry("routing", {"fleet": "native"}, native_options=("first_solution", "metaheuristic"),
                    native_check="optimizer.problems.fleet.problem:check_routing_options",
                    description="fleet: the OR-Tools Routing library (first solution + guided local search, "
                                "time limit)"),
    ]
    return {e.name: e for e in table}


#: Every solver name ``solve`` accepts.
SOLVERS: dict[str, SolverEntry] = _entries()

#: The solvers ``cityopt run`` uses when ``--solver`` is not given.
DEFAULT_SOLVERS: dict[str, tuple[str, ...]] = {"traffic": ("shortest", "cpsat", "anneal"),
                                               "fleet": ("routing", "decompose"),
                                               "dispatch": ("milp", "cpsat", "anneal")}


def solver_names(problem: str | None = None) -> dict[str, str]:
    """Every solver name ``solve`` accepts (for ``problem``, those that apply to it), with a line on each."""
    return {k: e.description for k, e in sorted(_all().items()) if problem is None or problem in e.calls}


def _registered_later() -> dict[str, SolverEntry]:
    """QUBO solvers registered after the table was built (``solvers.register_solver``): every problem, on its QUBO."""
    from solvers.registry import available_solvers

    return {k: SolverEntry(k, dict.fromkeys(PROBLEM_KINDS, "qubo"), description=d)
            for k, d in available_solvers().items() if k not in SOLVERS}


def _all() -> dict[str, SolverEntry]:
    return {**SOLVERS, **_registered_later()}


def solver_entry(solver: str) -> SolverEntry:
    """The table's entry of ``solver`` (raises UnknownSolverError naming the choices)."""
    if isinstance(solver, str) and solver in SOLVERS:
        return SOLVERS[solver]
    table = _all()
    if isinstance(solver, str) and solver in table:
        return table[solver]
    msg = f"unknown solver {solver!r}; choose one of: {', '.join(sorted(table))}"
    raise UnknownSolverError(msg)


def baseline_solver(problem: str) -> str | None:
    """The solver whose plan a ``problem`` kind's others are measured against, if it has one.

    >>> baseline_solver("traffic"), baseline_solver("dispatch")
    ('shortest', None)
    """
    return next((e.name for e in SOLVERS.values() if problem in e.baseline_for), None)


def applies(solver: str, problem: str) -> bool:
    """Whether ``solver`` (a name in :data:`SOLVERS`) applies to problems of kind ``problem``."""
    return problem in solver_entry(solver).calls


def folder_label(solver: str, options: Mapping[str, Any]) -> str:
    """The run folder of ``solver`` with ``options`` when no label is given: ``cpsat-qubo`` or the name."""
    e = SOLVERS.get(solver)
    return e.folder(options) if e is not None else solver


def _check_options(e: SolverEntry, call: Call, problem: str | None, options: Mapping[str, Any]) -> None:
    from solvers.registry import check_options

    opts = dict(options)
    if e.model_option:
        on = opts.pop("on", None)
        if on not in (None, "native", "qubo"):
            msg = f"option 'on' of solver {e.name!r} must be 'native' or 'qubo', got {on!r}"
            raise InvalidOptionError(msg)
        if on == "native" and call == "qubo":
            msg = f"problem {problem!r} has no native CP-SAT model; use on='qubo'"
            raise InvalidOptionError(msg)
    if call != "native":
        built = check_options(e.name, opts)
        if callable(getattr(built, "check_backend", None)):  # qaoa: its backend's options and credentials
            built.check_backend()
        return
    unknown = sorted(set(opts) - set(e.native_options))
    if unknown and not e.native_options:
        msg = f"solver {e.name!r} takes no options besides seed and time_limit_s, got {unknown}"
        raise InvalidOptionError(msg)
    if unknown:
        on = f" on {problem} problems" if len(e.calls) > 1 else ""
        msg = (f"unknown option {unknown[0]!r} for solver {e.name!r}{on}; valid options are: "
               f"{', '.join(e.native_options)}")
        raise InvalidOptionError(msg)
    if e.native_check:
        module, func = e.native_check.split(":")
        getattr(importlib.import_module(module), func)(opts)


def check_request(solver: str, options: Mapping[str, Any], problem: str | None = None, *,
                  seed: int | None = None, time_limit_s: float | None = None) -> None:
    """Check a solver request before anything runs (no partial output); raise the first error.

    Parameters
    ----------
    solver : str
        A name in :data:`SOLVERS`.
    options : mapping
        Its options.
    problem : str, optional
        The problem kind it will solve: the solver must apply to it, and the
        options must suit how it is called there.  None: the options must suit
        at least one problem the solver applies to.
    seed, time_limit_s : optional
        Checked as every solve checks them.

    Raises
    ------
    UnknownSolverError
        No such solver, or it does not apply to ``problem`` (the message names those it applies to).
    InvalidOptionError
        An option, ``seed`` or ``time_limit_s`` is unknown or out of range.
    """
    from solvers.options import check_call

    e = solver_entry(solver)
    if problem is not None and problem not in e.calls:
        msg = (f"solver {solver!r} does not apply to {problem} problems (it applies to "
               f"{' and '.join(e.problems)}); for {problem} choose from: {', '.join(solver_names(problem))}")
        raise UnknownSolverError(msg)
    check_call(seed, time_limit_s)
    kinds = [problem] if problem is not None else list(e.problems)
    first: InvalidOptionError | None = None
    for kind in kinds:  # with no problem given, one that takes these options is enough
        try:
            _check_options(e, e.calls[kind], kind, options)
        except InvalidOptionError as exc:
            first = first or exc
        else:
            return
    if first is not None:
        raise first


def check_fits(problem: Problem, solver: str, options: Mapping[str, Any]) -> None:
    """Check that a request suits this instance before any solver of a run starts.

    :func:`check_request` checks what needs no instance; this checks what does:
    a QUBO solver's size limit (``exact``'s ``max_variables``, ``qaoa``'s
    ``max_qubits``) against the problem's QUBO, and ``qaoa``'s backend (its
    options, processor, credentials), so a run of several solvers fails before
    the first one writes its folder.  Native solvers need nothing more.

    Raises
    ------
    ProblemTooLargeError, InvalidOptionError, BackendUnavailableError
    """
    from solvers.registry import check_fits as fits

    call = solver_entry(solver).calls[problem.kind]
    opts = dict(options)
    on = opts.pop("on", None)
    if call == "native" or (call == "cpsat" and on != "qubo"):
        return
    fits(solver, opts, problem.to_qubo().num_variables)


def solve(problem: Problem, solver: str, *, seed: int | None = None, time_limit_s: float | None = None,
          **options: Any) -> Solution:
    """Solve ``problem`` with the solver named ``solver``.

    Parameters
    ----------
    problem : Problem
        E.g. :class:`optimizer.problems.Traffic`.
    solver : str
        A name in :data:`SOLVERS` that applies to ``problem.kind``: ``qaoa``,
        ``cpsat``, ``exact``, ``anneal``, ``decompose``, or a problem's own (``shortest``).
    seed : int, optional
    time_limit_s : float, optional
    **options
        Solver options; ``on="qubo"|"native"`` picks CP-SAT's model.

    Returns
    -------
    solvers.Solution
        ``bits`` index the problem's QUBO variables whatever solver ran.

    Raises
    ------
    UnknownSolverError, InvalidOptionError
        From :func:`check_request`, before the solver starts.
    """
    from solvers.registry import run_checked

    check_request(solver, options, problem.kind, seed=seed, time_limit_s=time_limit_s)
    call = solver_entry(solver).calls[problem.kind]
    t0 = time.perf_counter()
    if call == "native":
        sol = problem.native_solvers()[solver](seed=seed, time_limit_s=time_limit_s, **options)
        return sol if sol.wall_time_s else replace(sol, wall_time_s=time.perf_counter() - t0)
    if call == "cpsat" and options.pop("on", None) != "qubo":
        from solvers.cpsat import solve_cpsat_model

        model = problem.native_cpsat()
        sol = solve_cpsat_model(model, seed=seed, time_limit_s=time_limit_s, **options)  # no QUBO built
        return replace(sol, wall_time_s=time.perf_counter() - t0)
    options.pop("on", None)
    return run_checked(problem.to_qubo(), solver, seed=seed, time_limit_s=time_limit_s, **options)
