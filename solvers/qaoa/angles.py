"""Initial QAOA angles (on the normalised cost, see :mod:`solvers.qaoa.cost`).

* :func:`linear_ramp`: a discretised annealing schedule;
* :func:`interp`: Zhou et al.'s INTERP, depth ``p`` optimum -> depth ``p + 1`` start;
* :func:`table_angles`: transfer from the project's table of good angles
  (``angle_table.json`` beside this file), keyed by problem kind, mixer and
  depth, made by ``python -m benchmarks.build_angle_table`` (the file records
  how: the instances, the command and the quality reached).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from solvers.errors import InvalidInputError

__all__ = ["ANGLE_TABLE_PATH", "INIT_SCHEDULES", "angle_table", "initial_angles", "interp", "linear_ramp",
           "table_angles"]

#: Where the table of good angles lives.
ANGLE_TABLE_PATH = Path(__file__).with_name("angle_table.json")
ANGLE_TABLE_SCHEMA = 1

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


def interp(gammas: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """INTERP (Zhou et al., PRX 10, 021067, 2020): optimal depth-``p`` angles -> depth ``p + 1`` start.

    ``x_i^(p+1) = (i-1)/p * x_{i-1}^(p) + (p-i+1)/p * x_i^(p)`` for ``i = 1..p+1``
    (1-based, ``x_0 = x_{p+1} = 0``): a linear interpolation of the schedule.

    Examples
    --------
    >>> g, b = interp(np.array([0.4]), np.array([-0.6]))
    >>> g.tolist(), b.tolist()
    ([0.4, 0.4], [-0.6, -0.6])
    >>> [round(float(v), 3) for v in interp(np.array([0.2, 0.6]), np.array([-0.6, -0.2]))[0]]
    [0.2, 0.4, 0.6]
    """

    def one(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        p = x.size
        if p == 0:
            msg = "interp needs the angles of depth p >= 1"
            raise InvalidInputError(msg)
        padded = np.concatenate([[0.0], x, [0.0]])
        i = np.arange(1, p + 2)
        return (i - 1) / p * padded[i - 1] + (p - i + 1) / p * padded[i]

    return one(gammas), one(betas)


@lru_cache(maxsize=1)
def angle_table() -> dict[str, Any]:
    """The table of good angles (empty entries when the file is absent)."""
    if not ANGLE_TABLE_PATH.exists():
        return {"schema_version": ANGLE_TABLE_SCHEMA, "entries": {}}
    data = json.loads(ANGLE_TABLE_PATH.read_text())
    if data.get("schema_version") != ANGLE_TABLE_SCHEMA:
        msg = (f"{ANGLE_TABLE_PATH.name} has schema_version {data.get('schema_version')!r}, "
               f"expected {ANGLE_TABLE_SCHEMA}; rebuild it with python -m benchmarks.build_angle_table")
        raise InvalidInputError(msg)
    return data


def table_key(problem: str | None, mixer: str, depth: int) -> str:
    return f"{problem or 'generic'}/{mixer}/p{depth}"


def table_angles(problem: str | None, mixer: str, depth: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Transferred ``(gammas, betas)`` on the normalised cost, or None when the table has none."""
    entry = angle_table()["entries"].get(table_key(problem, mixer, depth))
    if entry is None:
        return None
    return np.array(entry["gammas"], dtype=np.float64), np.array(entry["betas"], dtype=np.float64)
