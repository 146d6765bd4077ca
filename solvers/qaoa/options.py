"""Options of the ``qaoa`` solver: :class:`QAOAOptions` and the values its fields accept.

Both the solver (:mod:`solvers.qaoa.solver`) and its classical loop
(:mod:`solvers.qaoa.optimise`) read them; this module imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from solvers.errors import InvalidOptionError, ProblemTooLargeError
from solvers.options import check_range
from solvers.qaoa.backends import split_backend_name

__all__ = [
    "DEVICE_OPTIMISE",
    "INITS",
    "MAX_QUBITS_LIMIT",
    "MIXERS",
    "OBJECTIVES",
    "OPTIMIZERS",
    "RECURSIVE_MAX",
    "SHOT_BACKEND_MAXITER",
    "SOLVER",
    "STATE_BACKENDS",
    "WARM_RELAXATIONS",
    "QAOAOptions",
]

#: The name the solver is registered under.
SOLVER = "qaoa"

#: Optimiser names accepted by the ``optimizer`` option (matched case-insensitively);
#: ``auto`` is L-BFGS-B with the adjoint gradient where the backend gives one (``fast``)
#: and the objective is the expectation, else COBYLA.
OPTIMIZERS = ("auto", "COBYLA", "Nelder-Mead", "L-BFGS-B")
#: Initial-angle strategies accepted by the ``init`` option.
INITS = ("ramp", "interp", "table")
#: Mixers accepted by the ``mixer`` option (``auto``: XY ring on one-hot groups, else X).
MIXERS = ("auto", "x", "xy-ring", "xy-complete")
#: Objectives accepted by the ``objective`` option.
OBJECTIVES = ("expectation", "cvar")
#: Where the angles are optimised for a shot-based backend (``qvm``, ``engine``), see
#: ``QAOAOptions.device_optimise``.
DEVICE_OPTIMISE = ("noiseless", "device")
#: Values of ``warm_relaxation`` (see :mod:`solvers.qaoa.warm`).
WARM_RELAXATIONS = ("box", "convex")
#: Backends that run warm-start and recursive QAOA (an exact state vector).
STATE_BACKENDS = ("fast", "qsim")
#: Largest ``recursive`` (the variables left are enumerated: ``2**recursive`` assignments).
RECURSIVE_MAX = 20
#: Largest ``max_qubits`` (the dense cost diagonal holds ``2**n`` values).
MAX_QUBITS_LIMIT = 30
#: Default ``maxiter`` on shot-based backends (qvm, engine), where one evaluation takes seconds.
SHOT_BACKEND_MAXITER = 40


@dataclass(frozen=True)
class QAOAOptions:
    """Options of the ``qaoa`` solver.

    Parameters
    ----------
    depth : int
        QAOA layers ``p``, in ``[1, 20]``.
    backend : {"qsim"}
        Where the circuit runs: ``"qsim"``, qsim's exact state vector for the
        optimiser and qsim sampling for the answer.
    shots : int
        Bitstrings sampled at the optimised angles (at least 1).
    optimizer : {"auto", "COBYLA", "Nelder-Mead", "L-BFGS-B"}
        scipy method minimising the objective; L-BFGS-B uses the backend's adjoint
        gradient where it has one, else finite differences (step ``LBFGSB_EPS``).
        ``auto`` (default): L-BFGS-B with the adjoint gradient on gradient backends
        (``fast``) for the expectation, else COBYLA.  Matched case-insensitively.
    maxiter : int
        Most objective evaluations (simulations) the optimiser may spend (at least 1);
        when not given, ``SHOT_BACKEND_MAXITER`` (40) on shot-based backends optimised
        on the device (``device_optimise="device"``).
    init : {"ramp", "interp", "table"}
        Initial angles.  ``ramp``: the linear ramp ``gamma_k = (k+1/2)/p * 0.75``,
        ``beta_k = -(1-(k+1/2)/p) * 0.75`` on the normalised cost (betas
        negative for minimisation, see :func:`solvers.qaoa.angles.linear_ramp`).
        ``interp``: optimise depth 1 from the ramp, then each depth ``q+1``
        from the INTERP extrapolation of depth ``q``'s optimum (Zhou et al.
        2020), the budget shared among depths.  ``table``: angles transferred
        from the project's table of good angles for the QUBO's problem kind,
        mixer and depth (:mod:`solvers.qaoa.angles`), the ramp where the table
        has none.
    mixer : {"auto", "x", "xy-ring", "xy-complete"}
        ``x``: the transverse field on every qubit, from ``|+>^n``.  ``xy-ring``
        / ``xy-complete``: XY hopping inside each one-hot group of the QUBO
        (ring or all pairs), from a W state per group, so every sample keeps
        the one-hot constraints; the one-hot penalty, constant on that
        subspace, is then dropped from the cost layer (fewer gates).
        ``auto``: ``xy-ring`` when the QUBO has one-hot groups, else ``x``.
    objective : {"expectation", "cvar"}
        What the optimiser minimises: ``<C>``, or CVaR-alpha, the mean of the
        lowest ``cvar_alpha`` fraction of the energy distribution
        (Barkoutsos et al. 2020): exact from the state on state-vector
        backends, from ``shots_per_eval`` samples on shot-based ones.
    cvar_alpha : float
        In ``(0, 1]``; ``1`` is the expectation.
    restarts : int
        Multistart: optimiser runs from the initial angles and ``restarts - 1``
        seeded perturbations of them; ``maxiter`` is shared among them.
    shots_per_eval : int
        Samples per objective evaluation on shot-based backends (``qvm``, ``engine``).
    backend_options : dict or None
        Backend-specific options (``project_id``, ``sampler``, ``precision``, ...).
    device_optimise : {"noiseless", "device"}
        Shot-based backends (``qvm``, ``engine``) only.  ``noiseless`` (default):
        optimise the angles on the noiseless ``fast`` simulator (exact
        expectation, adjoint gradient; ``maxiter`` as for ``fast``), or start
        from the angle table with ``init="table"``, then run the device once,
        ``shots`` shots, for the answer: seconds instead of minutes, and the
        answer's bits still come only from the device's samples.  ``device``:
        every evaluation is a sampling run on the device (``shots_per_eval``
        shots, ``maxiter`` defaulting to ``SHOT_BACKEND_MAXITER``, the time
        limit), the angles tuned to the device's noise.
    device_refine : int
        With ``device_optimise="noiseless"`` on a shot-based backend: after the
        noiseless optimum, up to this many evaluations on the device around it
        (COBYLA, first step 0.1 rad, ``shots_per_eval`` shots each; the noiseless
        optimum is the first), a noise-aware refinement; the angles with the
        lowest device estimate are sampled for the answer (the lowest of noisy
        estimates is biased low: compare the answer's own P(optimum), reported
        with the noiseless one).  0 (default): none.  Measured on the 12-qubit
        traffic instance on ``qvm:rainbow`` (depth 2, 2,000 shots): 10 evaluations
        of 500 shots gave P(optimum) 0.0195 and P(feasible) 0.277 against 0.0185
        and 0.290 without (noiseless: 0.127 and 1.0), within shot noise: there the
        device's noise, not the angles, is what costs.
    max_qubits : int
        Refuse QUBOs with more variables than this (``ProblemTooLargeError``), in ``[1, 30]``.
    warm_start : bool
        Warm-start QAOA (Egger et al. 2021, :mod:`solvers.qaoa.warm`): the initial
        state ``prod_i RY(theta_i)|0>`` from the QUBO's continuous relaxation
        ``c*`` (``theta_i = 2 arcsin(sqrt(c_i))``, ``c`` clipped into
        ``[warm_epsilon, 1 - warm_epsilon]``) and the mixer
        ``RY(theta_i) RZ(2 beta) RY(-theta_i)`` on every qubit, in place of the X
        or XY mixer (so ``mixer`` must be ``auto`` or ``x``; the one-hot penalty
        stays in the cost).  Backends ``fast`` and ``qsim`` only.
    warm_relaxation : {"box", "convex"}
        The relaxation: the non-convex box QP from several seeded starts
        (default: the better warm start in 6 of 7 instances of
        ``benchmarks/bench_qaoa_variants.py``) or the convexified QP (global and
        deterministic).
    warm_epsilon : float
        The regularisation ``eps`` in ``[0, 0.5]`` (default 0.25).
    recursive : int
        Recursive QAOA (Bravyi et al. 2020, :mod:`solvers.qaoa.recursive`) when
        positive: run QAOA, fix the variable or tie the pair of largest ``|<Z_i>|``
        or ``|<Z_i Z_j>|`` in the optimised state, reduce the QUBO, repeat until
        ``recursive`` variables remain, enumerate those exactly and lift back.
        ``0`` (default) is off; at most ``RECURSIVE_MAX`` (20) and below the
        number of variables.  Backends ``fast`` and ``qsim`` only.
    threads : int or None
        CPU threads of the simulator; ``None``: one thread below 20 qubits, every
        core this process may use from 20 up (see
        :func:`solvers.qaoa.backends.default_threads`).
    """

    depth: int = 1
    backend: str = "qsim"
    shots: int = 4096
    optimizer: str = "auto"
    maxiter: int = 300
    init: str = "ramp"
    mixer: str = "auto"
    objective: str = "expectation"
    cvar_alpha: float = 0.2
    restarts: int = 1
    shots_per_eval: int = 1000
    backend_options: dict[str, Any] | None = None
    device_optimise: str = "noiseless"
    device_refine: int = 0
    max_qubits: int = 26
    threads: int | None = None
    warm_start: bool = False
    warm_relaxation: str = "box"
    warm_epsilon: float = 0.25
    recursive: int = 0

    def __post_init__(self) -> None:
        check_range(SOLVER, "depth", self.depth, low=1, high=20, integer=True)
        check_range(SOLVER, "shots", self.shots, low=1, high=10**7, integer=True)
        check_range(SOLVER, "maxiter", self.maxiter, low=1, high=10**5, integer=True)
        check_range(
            SOLVER, "max_qubits", self.max_qubits, low=1, high=MAX_QUBITS_LIMIT, integer=True
        )
        check_range(SOLVER, "threads", self.threads, low=1, high=256, integer=True, allow_none=True)
        split_backend_name(self.backend)  # raises InvalidOptionError naming the valid ones
        canonical = {m.lower(): m for m in OPTIMIZERS}
        if not isinstance(self.optimizer, str) or self.optimizer.lower() not in canonical:
            msg = (
                f"option 'optimizer' of solver {SOLVER!r} must be one of: "
                f"{', '.join(OPTIMIZERS)}; got {self.optimizer!r}"
            )
            raise InvalidOptionError(msg)
        object.__setattr__(self, "optimizer", canonical[self.optimizer.lower()])
        for name, allowed in (("init", INITS), ("mixer", MIXERS), ("objective", OBJECTIVES),
                              ("device_optimise", DEVICE_OPTIMISE)):
            value = getattr(self, name)
            if value not in allowed:
                msg = (f"option {name!r} of solver {SOLVER!r} must be one of: {', '.join(allowed)}; "
                       f"got {value!r}")
                raise InvalidOptionError(msg)
        check_range(SOLVER, "cvar_alpha", self.cvar_alpha, low=1e-6, high=1.0)
        check_range(SOLVER, "restarts", self.restarts, low=1, high=100, integer=True)
        check_range(SOLVER, "shots_per_eval", self.shots_per_eval, low=1, high=10**6, integer=True)
        check_range(SOLVER, "device_refine", self.device_refine, low=0, high=10**4, integer=True)
        if self.backend_options is not None and not isinstance(self.backend_options, dict):
            msg = f"option 'backend_options' of solver {SOLVER!r} must be a dict, got {self.backend_options!r}"
            raise InvalidOptionError(msg)
        taken = sorted(set(self.backend_options or {}) & {"mixer", "groups", "threads"})
        if taken:
            msg = (f"backend_options of solver {SOLVER!r} may not set {', '.join(map(repr, taken))}: "
                   f"{'it is' if len(taken) == 1 else 'they are'} the solver's own option(s); pass "
                   f"{', '.join(f'{k}=...' for k in taken)} to the solver instead")
            raise InvalidOptionError(msg)
        self._check_variants()

    def _check_variants(self) -> None:
        """Warm-start and recursive QAOA: their own values, and the backends and mixers they take."""
        if not isinstance(self.warm_start, bool):
            msg = f"option 'warm_start' of solver {SOLVER!r} must be true or false, got {self.warm_start!r}"
            raise InvalidOptionError(msg)
        if self.warm_relaxation not in WARM_RELAXATIONS:
            msg = (f"option 'warm_relaxation' of solver {SOLVER!r} must be one of: {', '.join(WARM_RELAXATIONS)}; "
                   f"got {self.warm_relaxation!r}")
            raise InvalidOptionError(msg)
        check_range(SOLVER, "warm_epsilon", self.warm_epsilon, low=0.0, high=0.5)
        check_range(SOLVER, "recursive", self.recursive, low=0, high=RECURSIVE_MAX, integer=True)
        prefix, _ = split_backend_name(self.backend)
        for name, on in (("warm_start", self.warm_start), ("recursive", bool(self.recursive))):
            if on and prefix not in STATE_BACKENDS:
                msg = (f"option {name!r} of solver {SOLVER!r} runs on the backends {', '.join(STATE_BACKENDS)} "
                       f"(it needs the exact state), not {self.backend!r}; use backend='fast' or 'qsim'")
                raise InvalidOptionError(msg)
        if self.warm_start and self.mixer not in ("auto", "x"):
            msg = (f"option 'warm_start' of solver {SOLVER!r} brings its own mixer, so 'mixer' must be 'auto' or "
                   f"'x', got {self.mixer!r}")
            raise InvalidOptionError(msg)

    def check_size(self, n: int) -> None:
        """Raise ProblemTooLargeError if a QUBO of ``n`` variables needs more than ``max_qubits`` qubits,
        InvalidOptionError if ``recursive`` would leave no round to QAOA (not below ``n``)."""
        if n > self.max_qubits:
            msg = (f"the QUBO has {n} variables, more than the qaoa option max_qubits={self.max_qubits}; "
                   f"raise max_qubits (at most {MAX_QUBITS_LIMIT}) or use the 'decompose' solver")
            raise ProblemTooLargeError(msg)
        if 0 < self.recursive >= n:
            msg = (f"option 'recursive' of solver {SOLVER!r} is {self.recursive}, not below the QUBO's {n} variables, "
                   f"so no round would run QAOA; use recursive in [1, {n - 1}] (or 0 for plain QAOA)")
            raise InvalidOptionError(msg)

    def check_backend(self) -> None:
        """Build the backend once on a one-qubit cost: its options, processor and credentials are
        checked before any solve (an engine backend without a project fails here, not mid-batch).

        A backend that built is remembered for the process (by name, depth and JSON options), so
        the CLI, the runner and ``solve`` checking one request do not build it three times.
        """
        import json

        from solvers.qaoa.backends import make_backend
        from solvers.qaoa.cost import IsingCost

        try:
            key = json.dumps([self.backend, self.depth, self.backend_options or {}], sort_keys=True)
        except TypeError:  # options holding objects (a sampler, credentials): checked every time
            key = None
        if key is not None and key in _BACKENDS_CHECKED:
            return
        cost = IsingCost.from_qubo(_one_qubit_qubo())
        make_backend(self.backend, cost, self.depth, **dict(self.backend_options or {}))
        if key is not None:
            _BACKENDS_CHECKED.add(key)


#: Backends :meth:`QAOAOptions.check_backend` has built once in this process (their JSON keys).
_BACKENDS_CHECKED: set[str] = set()


def _one_qubit_qubo() -> Any:
    from solvers.qubo import QUBOBuilder

    b = QUBOBuilder(["x"])
    b.add_linear("x", 1.0)
    return b.build()
