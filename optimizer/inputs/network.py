"""The grid as a DC network: power transfer distribution factors (PTDF) and branch ratings.

A DC power flow writes every branch flow as a linear function of the bus
injections: ``f = PTDF @ p`` (MW, the reference bus taking the balance).  The
factors are pandapower's own (``pandapower.pypower.makePTDF`` on the net's
internal case, so the branch and bus order, the transformer ratios and phase
shifts are pandapower's), mapped back to the net's lines and transformers.
With them a unit commitment can keep every branch within its rating without
running a power flow inside the optimiser.

A branch's rating, in MW for the DC model (unity power factor, nominal
voltage):

* a line: ``sqrt(3) * vn_kv * max_i_ka * parallel * max_loading_percent / 100``
  (``max_loading_percent`` 100 where the net gives none);
* a transformer: ``sn_mva * parallel * max_loading_percent / 100``.

A branch without a usable rating (``max_i_ka`` or ``sn_mva`` missing, zero or
not finite) is refused: a limit nobody can state is not a limit to plan with.

Examples
--------
>>> from optimizer.inputs.grid import Grid
>>> dc = dc_network(Grid.load("case9"))
>>> dc.ptdf.shape, len(dc.rating_mw)
((9, 9), 9)
>>> bool((dc.rating_mw > 0).all())
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import GridError

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.inputs.grid import Grid

__all__ = ["DCNetwork", "dc_network"]


@dataclass(frozen=True)
class DCNetwork:
    """A grid's DC model: flows ``ptdf @ injections_by_bus``.

    Attributes
    ----------
    buses : tuple
        The net's bus indices, in the column order of :attr:`ptdf`.
    branches : tuple of (str, int)
        ``("line", index)`` or ``("trafo", index)``, in the row order of :attr:`ptdf`.
    ptdf : ndarray, shape (branches, buses)
        MW of flow on each branch (from its from/hv bus to its to/lv bus) per MW
        injected at each bus and withdrawn at the reference bus.
    rating_mw : ndarray, shape (branches,)
    reference_bus : int
        The net bus whose column is zero (the external grid's, or the first slack).
    """

    buses: tuple[int, ...]
    branches: tuple[tuple[str, int], ...]
    ptdf: np.ndarray
    rating_mw: np.ndarray
    reference_bus: int

    def column(self, bus: int) -> np.ndarray:
        """The PTDF column of net bus ``bus``."""
        return self.ptdf[:, self._col[bus]]

    @property
    def _col(self) -> dict[int, int]:
        return {b: j for j, b in enumerate(self.buses)}

    def flows(self, injections: dict[int, float]) -> np.ndarray:
        """Branch flows (MW) of net injections by bus (MW; loads negative)."""
        p = np.zeros(len(self.buses))
        col = self._col
        for b, v in injections.items():
            p[col[b]] += v
        return self.ptdf @ p

    def label(self, r: int) -> str:
        kind, idx = self.branches[r]
        return f"{kind} {idx}"


def check_connected(net: Any, name: str) -> None:
    """Refuse a net with an island: in-service buses with a load, generator or storage that no in-service
    branch links to a slack (an external grid or a slack generator).  pandapower's power flows would set them out of service and go on, so a
    load there would be silently unserved and the PTDF would leave it out.

    >>> from optimizer.inputs.grid import Grid
    >>> net = Grid.load("case9").copy_net()
    >>> net.line.loc[net.line.to_bus == 4, "in_service"] = False
    >>> net.line.loc[net.line.from_bus == 4, "in_service"] = False
    >>> check_connected(net, "case9")
    Traceback (most recent call last):
    ...
    optimizer.errors.GridError: grid 'case9' has an island: bus 4 (load 90 MW) is not connected to an external grid or a slack generator; connect it with an in-service line or transformer, or set it out of service
    """
    from pandapower import topology

    used: set[int] = set()  # an island matters where something is attached: a bare bus harms nothing
    for tab in ("load", "sgen", "gen", "storage"):
        if len(net[tab]):
            used |= {int(b) for b in net[tab].bus[net[tab].in_service.astype(bool)]}
    unsupplied = sorted(int(b) for b in topology.unsupplied_buses(net) if int(b) in used)
    if not unsupplied:
        return
    load = net.load[net.load.in_service.astype(bool)].groupby("bus").p_mw.sum() if len(net.load) else {}
    parts = [f"bus {b}" + (f" (load {load[b]:g} MW)" if b in load else "") for b in unsupplied[:5]]
    more = f" and {len(unsupplied) - 5} more" if len(unsupplied) > 5 else ""
    verb = "is" if len(unsupplied) == 1 else "are"
    msg = (f"grid {name!r} has an island: {', '.join(parts)}{more} {verb} not connected to an external grid or a "
           f"slack generator; connect {'it' if len(unsupplied) == 1 else 'them'} with an in-service line or "
           f"transformer, or set {'it' if len(unsupplied) == 1 else 'them'} out of service")
    raise GridError(msg)


def dc_network(grid: Grid) -> DCNetwork:
    """The PTDF and the ratings of ``grid``'s in-service lines and transformers (pandapower's DC model)."""
    import pandapower as pp
    from pandapower.pypower.idx_bus import BUS_TYPE, REF
    from pandapower.pypower.makePTDF import makePTDF

    net = grid.copy_net() if hasattr(grid, "copy_net") else grid.net.deepcopy()
    check_connected(net, grid.name)
    try:
        pp.rundcpp(net)
    except Exception as exc:  # pandapower's own errors: islands, no slack ...
        msg = f"grid {grid.name!r}: pandapower's DC power flow fails ({type(exc).__name__}: {exc}); " \
              "check the grid for islands and a slack bus"
        raise GridError(msg) from None
    ppc = net._ppc
    bus_lookup = net._pd2ppc_lookups["bus"]
    branch_lookup = net._pd2ppc_lookups.get("branch", {})
    refs = np.flatnonzero(ppc["bus"][:, BUS_TYPE] == REF)
    if refs.size == 0:
        msg = f"grid {grid.name!r} has no reference (slack) bus; give it an external grid"
        raise GridError(msg)
    ptdf_ppc = makePTDF(ppc["baseMVA"], ppc["bus"], ppc["branch"], int(refs[0]))
    buses = tuple(int(b) for b in net.bus.index[net.bus.in_service])
    cols = [int(bus_lookup[b]) for b in buses]
    rows, branches, ratings = [], [], []
    for kind in ("line", "trafo"):
        if kind not in branch_lookup or not len(net[kind]):
            continue
        start, _ = branch_lookup[kind]
        table = net[kind]
        for pos, (idx, row) in enumerate(table.iterrows()):
            if not bool(row.get("in_service", True)):
                continue
            rows.append(start + pos)
            branches.append((kind, int(idx)))
            ratings.append(_rating(net, kind, int(idx), row, grid.name))
    ptdf = ptdf_ppc[np.ix_(rows, cols)] if rows else np.zeros((0, len(buses)))
    ref_ppc = int(refs[0])
    ref_bus = next((b for b, c in zip(buses, cols) if c == ref_ppc), buses[0])
    return DCNetwork(buses, tuple(branches), np.asarray(ptdf, dtype=np.float64),
                     np.asarray(ratings, dtype=np.float64), ref_bus)


def _rating(net: Any, kind: str, idx: int, row: Any, name: str) -> float:
    mlp = row.get("max_loading_percent", np.nan) if "max_loading_percent" in row else np.nan
    mlp = 100.0 if mlp is None or not math.isfinite(float(mlp)) else float(mlp)
    par = float(row.get("parallel", 1) or 1)
    if kind == "line":
        vn = float(net.bus.at[int(row["from_bus"]), "vn_kv"])
        i_ka = float(row.get("max_i_ka", np.nan))
        value = math.sqrt(3.0) * vn * i_ka * par * mlp / 100.0
        what = "max_i_ka"
    else:
        value = float(row.get("sn_mva", np.nan)) * par * mlp / 100.0
        what = "sn_mva"
    if not (math.isfinite(value) and value > 0):
        msg = (f"grid {name!r}: {kind} {idx} has no usable rating ({what} = {row.get(what)!r}); "
               f"give it a positive {what} so its limit can be planned for")
        raise GridError(msg)
    return value
