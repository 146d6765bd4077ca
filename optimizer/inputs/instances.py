"""Literature instances: TSPLIB / CVRPLIB files read with the ``vrplib`` package.

:func:`read_instance` returns the cost matrix with the depot first, the
coordinates, demands, capacity and vehicle count; :class:`InstanceFileError`
names what is wrong with a file that cannot be used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from optimizer.errors import InvalidInputError

__all__ = ["InstanceFileError", "read_instance"]


class InstanceFileError(InvalidInputError):
    """A TSPLIB / CVRPLIB instance file is missing, unreadable or of an unsupported kind."""


def read_instance(path: str | Path) -> dict[str, Any]:
    """Read a TSPLIB / CVRPLIB file with the ``vrplib`` package; Euclidean costs as the file defines them.

    ``EUC_2D`` distances are rounded to the nearest integer (TSPLIB's ``nint``,
    which CVRPLIB's published optima use), ``CEIL_2D`` rounded up, ``EXPLICIT``
    matrices taken as they are.  Returns ``name``, ``cost`` (matrix, depot
    first), ``coords`` (or None), ``demands``, ``capacity``, ``vehicles`` (from
    a ``VEHICLES`` field or a ``-k<V>`` name, else None) and ``comment``.
    """
    import re

    import vrplib

    file = Path(path)
    if not file.is_file():
        msg = f"instance: no file at {str(file)!r}; give a TSPLIB/CVRPLIB .vrp or .tsp file"
        raise InstanceFileError(msg)
    try:
        raw = vrplib.read_instance(str(file), compute_edge_weights=False)
    except Exception as exc:  # vrplib raises bare ValueError/IndexError/... on malformed files
        msg = f"instance: cannot read {str(file)!r} as TSPLIB/CVRPLIB ({type(exc).__name__}: {exc})"
        raise InstanceFileError(msg) from exc
    dim = raw.get("dimension")
    ewt = str(raw.get("edge_weight_type", "")).upper()
    coords = raw.get("node_coord")
    if not isinstance(dim, (int, np.integer)) or dim < 2:
        msg = f"instance {str(file)!r}: DIMENSION missing or below 2 (got {dim!r})"
        raise InstanceFileError(msg)
    if ewt in ("EUC_2D", "CEIL_2D", "ATT"):
        if coords is None or len(coords) != dim:
            msg = f"instance {str(file)!r}: EDGE_WEIGHT_TYPE {ewt} needs a NODE_COORD_SECTION of {dim} rows"
            raise InstanceFileError(msg)
        xy = np.asarray(coords, dtype=float)
        d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
        if ewt == "EUC_2D":
            cost = np.floor(d + 0.5)
        elif ewt == "CEIL_2D":
            cost = np.ceil(d)
        else:  # ATT pseudo-Euclidean
            r = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1) / 10.0)
            t = np.floor(r + 0.5)
            cost = np.where(t < r, t + 1, t)
    elif ewt == "EXPLICIT":
        ew = raw.get("edge_weight")
        if ew is None:
            msg = f"instance {str(file)!r}: EXPLICIT weights but no EDGE_WEIGHT_SECTION"
            raise InstanceFileError(msg)
        cost = np.asarray(ew, dtype=float)
    else:
        msg = (f"instance {str(file)!r}: EDGE_WEIGHT_TYPE {ewt or 'missing'!r} is not supported; "
               "use EUC_2D, CEIL_2D, ATT or EXPLICIT")
        raise InstanceFileError(msg)
    if cost.shape != (dim, dim):
        msg = f"instance {str(file)!r}: distance matrix has shape {cost.shape}, DIMENSION is {dim}"
        raise InstanceFileError(msg)
    depots = np.atleast_1d(np.asarray(raw.get("depot", [0]), dtype=int))
    depot = int(depots[0]) if depots.size else 0
    order = [depot] + [i for i in range(dim) if i != depot]
    cost = cost[np.ix_(order, order)]
    demand = raw.get("demand")
    demands = np.asarray(demand, dtype=float)[order][1:] if demand is not None else np.ones(dim - 1)
    capacity = raw.get("capacity")
    vehicles = raw.get("vehicles")
    name = str(raw.get("name", file.stem))
    if vehicles is None:
        m = re.search(r"-k(\d+)", name)
        vehicles = int(m.group(1)) if m else None
    return {"name": name, "cost": cost, "coords": None if coords is None else np.asarray(coords, float)[order],
            "demands": demands, "capacity": None if capacity is None else float(capacity),
            "vehicles": None if vehicles is None else int(vehicles), "comment": raw.get("comment"),
            "type": str(raw.get("type", ""))}
