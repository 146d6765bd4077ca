"""Initial QAOA angles (on the normalised cost, see :mod:`solvers.qaoa.cost`).

Only the linear ramp exists today; INTERP (from depth ``p - 1``) and transfer
from a table of known-good angles will sit beside it.
"""

from __future__ import annotations

import numpy as np

from solvers.errors import InvalidInputError

__all__ = ["INIT_SCHEDULES", "initial_angles", "linear_ramp"]

#: Default time step of the linear ramp on the normalised cost.
RAMP_DT = 0.75


def linear_ramp(depth: int, dt: float = RAMP_DT) -> tuple[np.ndarray, np.ndarray]:
    """Linear-ramp angles (a discretised annealing schedule; Zhou et al., PRX 10, 021067, 2020).

    ``gamma_k = (k + 1/2) / p * dt`` and ``beta_k = -(1 - (k + 1/2) / p) * dt``
    for ``k = 0..p-1``.

    The betas are *negative* because the solver minimises the cost with the
    ansatz ``exp(-i beta B) exp(-i gamma C)``, ``B = sum X``: the adiabatic path
    to the ground state of ``C`` starts from ``|+>^n``, the ground state of
    ``-B``, so its Trotter steps are ``exp(+i |beta| B) exp(-i |gamma| C)``.
    With both signs positive the ramp heads for the *maximum* of ``C``
    (Zhou et al. maximise MaxCut).  ``(gamma, beta) -> (-gamma, -beta)``
    conjugates the state, so ``(-gamma, +beta)`` would do equally well.

    Examples
    --------
    >>> g, b = linear_ramp(2, 1.0)
    >>> g.tolist(), b.tolist()
    ([0.25, 0.75], [-0.75, -0.25])
    """
    if depth < 1:
        msg = f"depth must be at least 1, got {depth!r}"
        raise InvalidInputError(msg)
    f = (np.arange(depth) + 0.5) / depth
    return f * dt, -(1.0 - f) * dt


#: ``init`` option value -> function of the depth giving ``(gammas, betas)``.
INIT_SCHEDULES = {"ramp": linear_ramp}


def initial_angles(init: str, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Initial ``(gammas, betas)`` for the schedule named ``init``."""
    try:
        schedule = INIT_SCHEDULES[init]
    except KeyError:
        msg = f"option 'init' of solver 'qaoa' must be one of: {', '.join(INIT_SCHEDULES)}; got {init!r}"
        raise InvalidInputError(msg) from None
    return schedule(depth)
