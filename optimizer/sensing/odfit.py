"""Demand from counts: origin-destination flows fitted to detector counts, judged by GEH.

A city's demand is sampled (:func:`optimizer.inputs.demand.sample_trips`) or
read from a trips CSV; street detectors count what actually drives.
:func:`fit_demand` moves the demand towards the counts: it estimates how many
vehicles of each origin-destination (OD) pair depart in each hour so that,
driven on their routes, they reproduce the hourly counts of the detectors, and
stays near the sampled demand (the *prior*) where the counts say nothing.

The model
---------
*Unknowns.*  ``x[p, h]``: vehicles of OD pair ``p`` departing in hour ``h``
(local clock hour; a vehicle count per hour, so also vehicles per hour).  The
pairs are the distinct ``(origin, destination)`` nodes of the prior's trips; the
hours are those the prior departs in and those the counts cover.

*Observations.*  ``c[s, h]``: the hourly flow (veh/h) of detector ``s`` in
local hour ``h``.  A detector is a sensor snapped to one directed road segment
``(u, v, key)`` (:mod:`optimizer.sensing.snapping`); its flow in an hour is the
mean of its usable readings in that hour (``quality`` ``ok``, or only
``gap_before``, which marks the row after a gap, not a bad value; every other
flag excludes the row), kept when they cover at least ``min_coverage`` of the
hour, then averaged over the days the readings span (the fit is one average
day).  Hours are clock hours in ``tz``: the zone the trips' departure times are
written in.

*Assignment* (route flows to segment counts): all-or-nothing on each pair's
free-flow shortest path (by ``travel_time``, the fastest parallel edge per step:
the first candidate route of :class:`optimizer.problems.Traffic` and the route
the SUMO twin drives), ``assignment="shortest"``; or proportional over the
pair's ``k`` candidate routes (Yen's k shortest paths, as ``Traffic``) with
logit shares on their BPR travel times under the prior's own hourly loads,
``share_r ~ exp(-theta * t_r / 60)`` with ``t_r`` in seconds and ``theta`` per
minute, ``assignment="split"``.  A vehicle departing in hour ``h`` reaches a
segment ``tau`` seconds of free-flow driving later; with departures spread
evenly over the hour, the share ``1 - tau / 3600`` of them crosses it in hour
``h`` and the rest in ``h + 1``.  So the model's counts are linear in the
flows, ``m = A x``, with ``A[(s, h'), (p, h)]`` the route share through ``s``
times the share of hour ``h``'s departures crossing it in hour ``h'``.

*Estimation.*  A non-negative regularised least-squares problem::

    min_x  ||A x - c||^2 + lam * ||x - x0||^2,   x >= 0

with ``x0`` the prior and ``lam > 0``.  ``A`` has one row per detector-hour
(tens to a few thousand) and one column per pair-hour (up to tens of
thousands), and is sparse.  The default solver (``method="dual"``) works in the
dual, which has one unknown per detector-hour: for a multiplier ``y`` the best
``x`` is ``max(0, x0 - A^T y / lam)``, the dual is concave and piecewise
quadratic, and semismooth Newton steps (an ``m x m`` solve each: dense up to
1500 detector-hours, conjugate gradients above; a backtracking line search)
reach its maximum in a few steps; there ``x`` meets
the primal's optimality conditions exactly.  ``method="lsq_linear"`` solves the
primal as one bounded least-squares problem ``[A; sqrt(lam) I] x ~ [c;
sqrt(lam) x0]``, ``x >= 0``, with :func:`scipy.optimize.lsq_linear`
(trust-region reflective, LSMR on the sparse matrix): the reference the tests
check the dual against, but its inner iterations grow with the columns (16 s
for 72 detector-hours x 4,700 pair-hours on the Helsinki replay, against 0.02 s for the dual,
0.1 s at 25,000 pair-hours).
:func:`scipy.optimize.nnls` is not used: it needs the stacked matrix dense,
``(m + n) x n``, and an active-set pass over every column.  Columns no
detector sees are left out of the solve and keep the prior exactly.  ``lam`` is
dimensionless (both terms are in (veh/h)^2): small values follow the counts,
large ones the prior.

*The trips table.*  The fitted ``x`` is made whole vehicles by systematic
rounding in each hour (each pair-hour gets ``floor(x)`` or ``ceil(x)``, the
hour's total is kept within one vehicle, seeded), split into up to four
rows per pair-hour departing in successive quarter-hours (at most 1000 vehicles
a row), and written in the trips-CSV format
(:func:`optimizer.inputs.demand.trips_from_csv`: ``origin_lon, origin_lat,
dest_lon, dest_lat, trip_id, depart, vehicles``), which
``cityopt run --problem traffic --trips-csv`` reads.  The "after" GEH is that
of the rounded trips, the ones written; the continuous fit's is reported beside
it.

The GEH statistic
-----------------
For an hourly model flow ``M`` and count ``C`` (veh/h),
``GEH = sqrt(2 (M - C)^2 / (M + C))`` (:func:`geh`; 0 when both are 0).
Traffic engineering accepts a model when GEH < 5 on at least 85% of
detector-hours (:data:`GEH_LIMIT`, :data:`ACCEPT_SHARE`);
:meth:`ODFit.summary` gives the share before (the prior) and after the fit.

Assumptions and limits
----------------------
- Observability: a pair-hour whose routes pass no detector is not identified
  by the counts and stays at the prior; the summary counts the observed and
  unobserved pairs.  Counts fix only sums of flows along detectors: many
  demands fit them equally, and the prior picks the one nearest to it.
- The counted traffic is the demand's: no through or background traffic from
  outside the modelled pairs.  Counts that the pairs cannot reach (a detector
  no route passes) stay unfitted, and show as high GEH.
- Routes are fixed during the fit (free-flow shortest paths, or shares frozen
  at the prior's BPR times): no equilibrium feedback from the fitted demand.
- Travel times to a detector are free-flow times: congestion delays the
  crossing into the next hour more than the model knows.  Departures within an
  hour are taken as even.
- One average day: day-to-day variation is averaged out of the counts.
- A fit that meets the counts it was given is not yet a good demand: with far
  more pair-hours than detector-hours almost any prior can be made to fit.
  Judge it on counts it did not see (:func:`geh_table` on held-out sensors or
  days; ``benchmarks/bench_odfit.py`` does both on the shipped Helsinki replay).

Examples
--------
>>> round(float(geh(100.0, 80.0)), 4)
2.1082
>>> geh([0.0, 300.0], [0.0, 400.0]).round(3).tolist()
[0.0, 5.345]
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import SensorDataError
from optimizer.inputs.peak import Peak, clock, departure_times
from optimizer.inputs.roads import fastest_edge, graph_of, graph_to_wgs84, haversine_m
from optimizer.io import atomic_write_json, atomic_write_text
from optimizer.sensing.readings import OK, Sensors, local_zone
from optimizer.sensing.snapping import snap_sensors

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    import pandas as pd
    from scipy import sparse

__all__ = [
    "ACCEPT_SHARE",
    "ASSIGNMENTS",
    "GEH_COLUMNS",
    "GEH_LIMIT",
    "METHODS",
    "ODFit",
    "USABLE_FLAGS",
    "fit_demand",
    "geh",
    "geh_table",
    "hourly_counts",
    "segment_flows",
]

log = logging.getLogger(__name__)

#: A detector-hour fits when its GEH is below this.
GEH_LIMIT = 5.0
#: The share of detector-hours that must fit for a model to be accepted.
ACCEPT_SHARE = 0.85
#: Readings whose quality holds only these flags are counted (``gap_before`` marks a row after a gap).
USABLE_FLAGS = frozenset({OK, "gap_before"})
#: Route assignments: the free-flow shortest path, or logit shares over k candidates on BPR times.
ASSIGNMENTS = ("shortest", "split")
#: Solvers of the fit: the dual Newton method, or scipy's bounded least squares on the primal.
METHODS = ("dual", "lsq_linear")
#: Columns of :attr:`ODFit.geh`.
GEH_COLUMNS = ("sensor_id", "hour", "model_vph", "count_vph", "geh")
#: Columns of :attr:`ODFit.trips` (the trips-CSV columns first).
TRIPS_COLUMNS = ("trip_id", "origin_lon", "origin_lat", "dest_lon", "dest_lat", "depart", "vehicles",
                 "origin", "destination", "depart_s", "straight_m")

_HOUR_S = 3600.0
_ROW_MAX_VEHICLES = 1000  # a trips CSV's most vehicles per row
_SLICES_PER_HOUR = 4      # departure rows per pair-hour: quarter-hours


# ------------------------------------------------------------------ GEH
def geh(model_vph: Any, count_vph: Any) -> np.ndarray:
    """The GEH statistic of hourly flows: ``sqrt(2 (M - C)^2 / (M + C))``, 0 where both are 0.

    Parameters
    ----------
    model_vph, count_vph
        Hourly flows (veh/h), scalars or arrays of one shape; not negative.

    Examples
    --------
    >>> round(float(geh(100.0, 80.0)), 3), float(geh(80.0, 100.0)) == float(geh(100.0, 80.0))
    (2.108, True)
    >>> geh([1000.0, 5.0], [1100.0, 0.0]).round(3).tolist()
    [3.086, 3.162]
    """
    m = np.asarray(model_vph, dtype=np.float64)
    c = np.asarray(count_vph, dtype=np.float64)
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(c))) or np.any(m < 0) or np.any(c < 0):
        msg = "GEH needs finite, non-negative hourly flows (model_vph and count_vph)"
        raise SensorDataError(msg)
    s = m + c
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(np.where(s > 0, 2.0 * (m - c) ** 2 / np.where(s > 0, s, 1.0), 0.0))
    return out


def _share_below(values: np.ndarray) -> float:
    return float(np.mean(values < GEH_LIMIT)) if len(values) else float("nan")


# ------------------------------------------------------------------ counts
def _usable(quality: pd.Series) -> np.ndarray:
    parts = quality.astype(str).str.split(";")
    return parts.map(lambda flags: set(flags) <= USABLE_FLAGS).to_numpy(dtype=bool)


def _snapped_sensors(sensors: Sensors, graph: nx.MultiDiGraph, city_name: str) -> pd.DataFrame:
    """The sensors on the city's roads: ``sensor_id, u, v, key`` (snapped now when they were not)."""
    s = sensors.sensors
    if not sensors.snapped:
        s = snap_sensors(s, graph)
    ok = s[(s["snap_note"].astype(str) == "") & s["u"].notna() & s["v"].notna() & s["key"].notna()]
    if ok.empty:
        why = "; ".join(f"{a}: {b}" for a, b in zip(s["sensor_id"].head(3), s["snap_note"].head(3)))
        msg = (f"none of the {len(s)} sensors is snapped to {city_name}'s roads ({why}); give sensors on "
               "this city's roads (lon, lat and bearing_deg or osm_way_id), or the city they were placed in")
        raise SensorDataError(msg)
    out = ok[["sensor_id", "u", "v", "key"]].copy()
    edges = [_edge_in(graph, u, v, k) for u, v, k in zip(out["u"], out["v"], out["key"])]
    missing = [sid for sid, e in zip(out["sensor_id"], edges) if e is None]
    if missing:
        msg = (f"sensor(s) {', '.join(map(str, missing[:5]))} sit on segments {city_name}'s road graph lacks "
               "(snapped to another city?); snap the sensors to this city")
        raise SensorDataError(msg)
    out["u"], out["v"], out["key"] = zip(*edges)
    return out.reset_index(drop=True)


def _edge_in(graph: nx.MultiDiGraph, u: Any, v: Any, key: Any) -> tuple[Any, Any, Any] | None:
    for cand in ((u, v, key), _as_int_edge(u, v, key)):
        if cand is not None and graph.has_edge(*cand):
            return cand
    return None


def _as_int_edge(u: Any, v: Any, key: Any) -> tuple[int, int, int] | None:
    try:
        return int(u), int(v), int(key)
    except (TypeError, ValueError):
        return None


def hourly_counts(sensors: Sensors, city: Any, *, tz: Any = None, hours: Iterable[int] | None = None,
                  min_coverage: float = 0.5) -> pd.DataFrame:
    """The detectors' mean flow per local clock hour, over the days of the readings.

    Parameters
    ----------
    sensors
        Readings and sensors (:class:`optimizer.sensing.readings.Sensors`); sensors not yet
        snapped are snapped to ``city``.
    city
        An :class:`optimizer.City`, a road graph, or a city spec (``"helsinki"``).
    tz
        The zone of the clock hours (default: ``round(lon / 15)`` hours at the city's centre).
    hours
        Local hours (0-23) to keep (default: every hour with counts).
    min_coverage
        Least share of an hour a day's usable readings must cover for that day's hour to count.

    Returns
    -------
    pandas.DataFrame
        ``sensor_id, u, v, key, hour, count_vph, days, readings``: one row per detector-hour with
        usable readings (``days``: the days averaged; ``readings``: the readings they hold).

    Raises
    ------
    SensorDataError
        No snapped sensor, every reading flagged, no usable hour (or none among ``hours``).
    """
    import pandas as pd

    graph, name, _ = _graph(city)
    zone = local_zone(graph, tz)
    if not isinstance(sensors, Sensors):
        msg = (f"sensors must be an optimizer.sensing.readings.Sensors (Sensors.read(...)), "
               f"not {type(sensors).__name__}")
        raise SensorDataError(msg)
    if not (isinstance(min_coverage, (int, float)) and not isinstance(min_coverage, bool)
            and 0.0 <= float(min_coverage) <= 1.0):
        msg = f"min_coverage must be a share of an hour from 0 to 1, got {min_coverage!r}"
        raise SensorDataError(msg)
    wanted = None if hours is None else _check_hours(hours)
    placed = _snapped_sensors(sensors, graph, name)
    r = sensors.readings
    r = r[r["sensor_id"].isin(placed["sensor_id"])]
    if r.empty:
        msg = (f"no reading comes from the {len(placed)} sensor(s) snapped to {name}'s roads "
               f"({', '.join(placed['sensor_id'].astype(str).head(5))}); check that the readings and the "
               "sensors table belong together")
        raise SensorDataError(msg)
    flow = r["flow_vph"].to_numpy(dtype=np.float64)
    good = _usable(r["quality"]) & np.isfinite(flow) & (flow >= 0)
    if not good.any():
        kinds = r["quality"].astype(str).value_counts().head(4)
        msg = (f"all {len(r)} readings of the snapped sensors are flagged ("
               f"{', '.join(f'{q}: {n}' for q, n in kinds.items())}), so there are no counts to fit; "
               "give readings whose quality is 'ok'")
        raise SensorDataError(msg)
    r = r[good]
    local = r["time"].dt.tz_convert(zone)
    frame = pd.DataFrame({"sensor_id": r["sensor_id"].to_numpy(), "date": local.dt.date.to_numpy(),
                          "hour": local.dt.hour.to_numpy(), "flow": r["flow_vph"].to_numpy(dtype=np.float64)})
    day = frame.groupby(["sensor_id", "date", "hour"], sort=True)["flow"].agg(["mean", "size"]).reset_index()
    interval = sensors.interval_s
    if interval:
        day = day[day["size"] * float(interval) >= float(min_coverage) * _HOUR_S - 1e-9]
    if wanted is not None:
        have = sorted(set(day["hour"].tolist()))
        day = day[day["hour"].isin(wanted)]
        if day.empty:
            msg = (f"hours {_hours_text(wanted)} hold no usable counts: the readings cover local hours "
                   f"{_hours_text(have)} ({_zone_name(zone)}); ask for hours that overlap them")
            raise SensorDataError(msg)
    if day.empty:
        msg = (f"no hour has readings covering {float(min_coverage):.0%} of it; lower min_coverage or give "
               "longer readings")
        raise SensorDataError(msg)
    out = day.groupby(["sensor_id", "hour"], sort=True).agg(
        count_vph=("mean", "mean"), days=("mean", "size"), readings=("size", "sum")).reset_index()
    out = out.merge(placed, on="sensor_id", how="left")
    out = out[["sensor_id", "u", "v", "key", "hour", "count_vph", "days", "readings"]]
    out.attrs["tz"] = _zone_name(zone)
    return out.reset_index(drop=True)


def _zone_name(zone: dt.tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone.tzname(None))


def _check_hours(hours: Any) -> list[int]:
    try:
        out = sorted({int(h) for h in hours})
        ok = all(float(h) == int(h) for h in hours) and not any(isinstance(h, bool) for h in hours)
    except (TypeError, ValueError):
        out, ok = [], False
    if not ok or not out or out[0] < 0 or out[-1] > 23:
        msg = f"hours must be local clock hours, whole numbers 0 to 23 (e.g. range(6, 10)), got {hours!r}"
        raise SensorDataError(msg)
    return out


def _hours_text(hours: Sequence[int]) -> str:
    hs = sorted(hours)
    if not hs:
        return "none"
    if hs == list(range(hs[0], hs[-1] + 1)):
        return f"{hs[0]:02d}:00-{hs[-1] + 1:02d}:00"
    return ", ".join(f"{h:02d}:00" for h in hs)


def _graph(city: Any) -> tuple[nx.MultiDiGraph, str, Any]:
    """``(graph, name, city)`` of a City, a road graph or a city spec (loaded)."""
    if isinstance(city, (str, os.PathLike)):
        from optimizer.inputs.city import City

        city = City.load(city)
    graph, city_obj = graph_of(city)
    name = str(getattr(city_obj, "name", None) or graph.graph.get("name") or "the graph")
    return graph, name, city


# ------------------------------------------------------------------ routes and the assignment
@dataclass(frozen=True)
class _Pairs:
    """The OD pairs, their routes (segments, entry offsets in seconds, shares) and node coordinates."""

    origin: np.ndarray
    destination: np.ndarray
    routes: tuple[tuple[tuple[tuple[tuple[Any, Any, Any], ...], np.ndarray, float], ...], ...]


def _paths(graph: nx.MultiDiGraph, origin: np.ndarray, destination: np.ndarray, k: int
           ) -> list[list[list[Any]]]:
    """Each pair's k shortest simple paths by travel time (node lists); the first is the shortest."""
    import itertools

    import networkx as nx
    import osmnx as ox

    D = ox.convert.to_digraph(graph, weight="travel_time")
    out: list[list[list[Any]]] = []
    if k == 1:
        cache: dict[Any, dict[Any, list[Any]]] = {}
        for o, d in zip(origin.tolist(), destination.tolist()):
            if o not in cache:
                cache[o] = nx.single_source_dijkstra_path(D, o, weight="travel_time")
            p = cache[o].get(d)
            out.append([p] if p else [])
        return out
    for o, d in zip(origin.tolist(), destination.tolist()):
        try:
            out.append(list(itertools.islice(nx.shortest_simple_paths(D, o, d, weight="travel_time"), k)))
        except nx.NetworkXNoPath:
            out.append([])
    return out


def _route(graph: nx.MultiDiGraph, nodes: list[Any]) -> tuple[tuple[tuple[Any, Any, Any], ...], np.ndarray]:
    segs = tuple(fastest_edge(graph, u, v) for u, v in zip(nodes[:-1], nodes[1:]))
    t0 = np.array([float(graph.edges[s]["travel_time"]) for s in segs], dtype=np.float64)
    offsets = np.concatenate(([0.0], np.cumsum(t0)[:-1])) if len(t0) else t0
    return segs, offsets


def _hour_shares(offset_s: float) -> list[tuple[int, float]]:
    """``(k, share)``: of departures spread evenly over an hour, the share reaching a point ``offset_s``
    seconds later in hour ``h + k``."""
    q, r = divmod(float(offset_s), _HOUR_S)
    q = int(q)
    if r <= 0.0:
        return [(q, 1.0)]
    return [(q, 1.0 - r / _HOUR_S), (q + 1, r / _HOUR_S)]


class _Assignment:
    """``A``: vehicles per hour of each pair-hour (columns) seen by each detector-hour (rows)."""

    def __init__(self, graph: nx.MultiDiGraph, origin: np.ndarray, destination: np.ndarray, *,
                 assignment: str, k: int, theta: float) -> None:
        self.graph = graph
        self.assignment = assignment
        paths = _paths(graph, origin, destination, 1 if assignment == "shortest" else k)
        none = [i for i, p in enumerate(paths) if not p]
        if none:
            i = none[0]
            msg = (f"{len(none)} origin-destination pair(s) have no route in the road graph "
                   f"(e.g. node {origin[i]} to node {destination[i]}); drop those trips")
            raise SensorDataError(msg)
        self.routes = [[_route(graph, p) for p in ps] for ps in paths]
        self.theta = float(theta)

    def shares(self, pair: int, hour: int, bpr: dict[tuple[Any, Any, Any], np.ndarray] | None,
               hour_index: dict[int, int] | None) -> np.ndarray:
        routes = self.routes[pair]
        if len(routes) == 1 or self.assignment == "shortest":
            out = np.zeros(len(routes))
            out[0] = 1.0
            return out
        times = np.empty(len(routes))
        for r, (segs, _) in enumerate(routes):
            t = 0.0
            for s in segs:
                t0 = float(self.graph.edges[s]["travel_time"])
                factor = 1.0
                if bpr is not None and hour_index is not None and s in bpr and hour in hour_index:
                    factor = float(bpr[s][hour_index[hour]])
                t += t0 * factor
            times[r] = t
        w = np.exp(-self.theta * (times - times.min()) / 60.0)
        return w / w.sum()

    def matrix(self, rows: Sequence[tuple[tuple[Any, Any, Any], int]], cols: Sequence[tuple[int, int]], *,
               bpr: dict[tuple[Any, Any, Any], np.ndarray] | None = None,
               hour_index: dict[int, int] | None = None) -> sparse.csr_matrix:
        """The incidence of detector-hours ``rows`` ((u, v, key), hour) on pair-hours ``cols`` (pair, hour)."""
        from scipy import sparse

        row_of: dict[tuple[Any, Any, Any], dict[int, list[int]]] = {}
        for i, (edge, hour) in enumerate(rows):
            row_of.setdefault(edge, {}).setdefault(int(hour), []).append(i)
        ri: list[int] = []
        ci: list[int] = []
        val: list[float] = []
        for j, (pair, hour) in enumerate(cols):
            shares = self.shares(pair, hour, bpr, hour_index)
            for share, (segs, offsets) in zip(shares, self.routes[pair]):
                if share <= 0:
                    continue
                for s, off in zip(segs, offsets):
                    hours = row_of.get(s)
                    if hours is None:
                        continue
                    for dk, part in _hour_shares(off):
                        for i in hours.get(hour + dk, ()):
                            ri.append(i)
                            ci.append(j)
                            val.append(share * part)
        A = sparse.coo_matrix((val, (ri, ci)), shape=(len(rows), len(cols))).tocsr()
        A.sum_duplicates()
        return A


def _bpr_factors(asg: _Assignment, cols: Sequence[tuple[int, int]], x0: np.ndarray, hours: Sequence[int]
                 ) -> tuple[dict[tuple[Any, Any, Any], np.ndarray], dict[int, int]]:
    """BPR time factors ``1 + 0.15 (v / cap)^4`` of every segment in each hour, under the prior on the
    shortest paths (the loads the split's shares are taken at)."""
    from optimizer.inputs.capacity import BPR_ALPHA, BPR_BETA, segment_capacity

    index = {h: i for i, h in enumerate(hours)}
    vol: dict[tuple[Any, Any, Any], np.ndarray] = {}
    for (pair, hour), flow in zip(cols, x0):
        if flow <= 0:
            continue
        segs, offsets = asg.routes[pair][0]
        for s, off in zip(segs, offsets):
            for dk, part in _hour_shares(off):
                h = hour + dk
                if h in index:
                    vol.setdefault(s, np.zeros(len(hours)))[index[h]] += flow * part
    out = {}
    for s, v in vol.items():
        cap = segment_capacity(asg.graph.edges[s])
        out[s] = 1.0 + BPR_ALPHA * (v / cap) ** BPR_BETA
    return out, index


# ------------------------------------------------------------------ the prior
def _prior_trips(graph: nx.MultiDiGraph, city: Any, trips: Any, *, seed: int, weight: str | None,
                 peak: Peak | None) -> pd.DataFrame:
    """A trips table with ``origin, destination, depart_s, vehicles`` (sampled when ``trips`` is a number)."""
    import pandas as pd

    from optimizer.errors import DemandError

    if isinstance(trips, (int, np.integer)) and not isinstance(trips, bool):
        from optimizer.inputs.demand import sample_trips

        df = sample_trips(city, int(trips), seed=seed, weight=weight)
        df["vehicles"] = 1
    elif isinstance(trips, pd.DataFrame):
        df = trips.copy()
    else:
        msg = (f"trips must be a trips table (origin, destination; optional depart_s, vehicles) or a number "
               f"of trips to sample, not {type(trips).__name__}")
        raise SensorDataError(msg)
    missing = [c for c in ("origin", "destination") if c not in df.columns]
    if missing or df.empty:
        msg = (f"trips table lacks column(s) {', '.join(missing)}" if missing else "trips table is empty")
        raise DemandError(msg + "; give origin and destination graph nodes (optional depart_s, vehicles)")
    bad = ~df["origin"].isin(list(graph.nodes)) | ~df["destination"].isin(list(graph.nodes))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        msg = (f"{int(bad.sum())} trip(s) start or end at nodes the road graph lacks (row {i}: "
               f"{df['origin'].iloc[i]!r} -> {df['destination'].iloc[i]!r}); give nodes of this city")
        raise DemandError(msg)
    if "depart_s" not in df.columns:
        df["depart_s"] = departure_times(len(df), peak or Peak(), seed=seed)
    if "vehicles" not in df.columns:
        df["vehicles"] = 1.0
    dep = pd.to_numeric(df["depart_s"], errors="coerce").to_numpy(dtype=np.float64)
    veh = pd.to_numeric(df["vehicles"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(dep)) or np.any(dep < 0) or np.any(dep >= 2 * 86400):
        msg = "trips depart_s must be seconds since midnight, from 0 to 48 h"
        raise DemandError(msg)
    if not np.all(np.isfinite(veh)) or np.any(veh < 0):
        msg = "trips vehicles must be finite and not negative"
        raise DemandError(msg)
    return pd.DataFrame({"origin": df["origin"].to_numpy(), "destination": df["destination"].to_numpy(),
                         "depart_s": dep, "vehicles": veh})


# ------------------------------------------------------------------ the result
@dataclass(frozen=True, eq=False)
class ODFit:
    """Demand fitted to counts: the trips, the fit per detector-hour, and the figures.

    Attributes
    ----------
    trips
        The fitted trips in the trips-CSV format (:data:`TRIPS_COLUMNS`; whole vehicles).
    geh
        One row per detector-hour: ``sensor_id, hour, model_vph, count_vph, geh`` (the fitted trips).
    geh_prior
        The same for the prior (``model_vph``, ``geh`` under the prior's demand).
    flows
        One row per pair-hour: ``origin, destination, hour, prior_vph, fitted_vph, vehicles, observed``.
    info
        The fit's settings and solver report (for :meth:`summary`).
    """

    trips: pd.DataFrame
    geh: pd.DataFrame
    geh_prior: pd.DataFrame
    flows: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Share of detector-hours with GEH < 5 before and after, RMSE, OD pairs observed and not."""
        after = self.geh["geh"].to_numpy()
        before = self.geh_prior["geh"].to_numpy()
        res_after = self.geh["model_vph"].to_numpy() - self.geh["count_vph"].to_numpy()
        res_before = self.geh_prior["model_vph"].to_numpy() - self.geh_prior["count_vph"].to_numpy()
        fl = self.flows
        pairs = fl.groupby(["origin", "destination"], sort=False)["observed"].any()
        out = {
            "schema_version": 1,
            "geh_limit": GEH_LIMIT,
            "accept_share": ACCEPT_SHARE,
            "detector_hours": int(len(self.geh)),
            "sensors": int(self.geh["sensor_id"].nunique()),
            "hours": sorted(int(h) for h in self.geh["hour"].unique()),
            "share_geh_below_5_before": _share_below(before),
            "share_geh_below_5_after": _share_below(after),
            "share_geh_below_5_fit": self.info.get("share_geh_below_5_fit"),
            "accepted_before": bool(_share_below(before) >= ACCEPT_SHARE),
            "accepted_after": bool(_share_below(after) >= ACCEPT_SHARE),
            "geh_median_before": float(np.median(before)),
            "geh_median_after": float(np.median(after)),
            "rmse_vph_before": float(np.sqrt(np.mean(res_before ** 2))),
            "rmse_vph_after": float(np.sqrt(np.mean(res_after ** 2))),
            "od_pairs": int(len(pairs)),
            "od_pairs_observed": int(pairs.sum()),
            "od_pairs_unobserved": int((~pairs).sum()),
            "pair_hours": int(len(fl)),
            "pair_hours_observed": int(fl["observed"].sum()),
            "vehicles_prior": float(fl["prior_vph"].sum()),
            "vehicles_fitted": int(fl["vehicles"].sum()),
            "trips_rows": int(len(self.trips)),
        }
        out.update({k: v for k, v in self.info.items() if k not in out})
        return out

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``od/trips.csv``, ``od/geh.csv`` and ``od/summary.json`` under ``out_dir``, as one folder.

        The folder is built aside and renamed into place (:func:`optimizer.io.staged_dir`): an
        ``od`` folder is there whole or not at all, and replaces only an ``od`` folder holding a
        ``summary.json`` (one written before); anything else there raises ``UnsafePathError``.
        The trips CSV is read by :func:`optimizer.inputs.demand.trips_from_csv` (``--trips-csv``).
        Returns the paths written.
        """
        from optimizer.io import staged_dir

        folder = Path(out_dir) / "od"
        trips_csv = self.trips[list(TRIPS_COLUMNS)].to_csv(index=False, float_format="%.7g")
        geh_csv = self.geh[list(GEH_COLUMNS)].to_csv(index=False, float_format="%.4f")
        summary = _jsonable(self.summary())
        with staged_dir(folder) as tmp:
            atomic_write_text(tmp / "trips.csv", trips_csv)
            atomic_write_text(tmp / "geh.csv", geh_csv)
            atomic_write_json(tmp / "summary.json", summary)
        return {name: folder / name for name in ("trips.csv", "geh.csv", "summary.json")}


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return float(o) if math.isfinite(float(o)) else None
    return o


# ------------------------------------------------------------------ fitting
def _check_number(value: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
            math.isfinite(float(value)) and lo <= float(value) <= hi):
        msg = f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}"
        raise SensorDataError(msg)
    return float(value)


def _systematic_round(values: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whole numbers, each ``floor`` or ``ceil`` of its value, each group's total kept within one (unbiased)."""
    out = np.zeros(len(values), dtype=np.int64)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        v = np.maximum(values[idx], 0.0)
        cum = np.floor(np.concatenate(([0.0], np.cumsum(v))) + rng.random())
        out[idx] = np.diff(cum).astype(np.int64)
    return out


def _trip_rows(origin: Any, destination: Any, hour: int, n: int, rng: np.random.Generator) -> list[tuple]:
    """Rows ``(origin, destination, depart_s, vehicles)`` of ``n`` vehicles spread over an hour's quarters."""
    rows = max(min(n, _SLICES_PER_HOUR), math.ceil(n / _ROW_MAX_VEHICLES))
    base, extra = divmod(n, rows)
    width = _HOUR_S / rows
    out = []
    for i in range(rows):
        veh = base + (1 if i < extra else 0)
        depart = hour * _HOUR_S + i * width + math.floor(rng.random() * width)
        out.append((origin, destination, float(depart), int(veh)))
    return out


def _node_lonlat(graph: nx.MultiDiGraph, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xs = np.array([graph.nodes[n]["x"] for n in nodes.tolist()], dtype=np.float64)
    ys = np.array([graph.nodes[n]["y"] for n in nodes.tolist()], dtype=np.float64)
    tr = graph_to_wgs84(graph)
    if tr is not None and len(xs):
        xs, ys = (np.asarray(a, dtype=np.float64) for a in tr.transform(xs, ys))
    return xs, ys


def _trips_table(graph: nx.MultiDiGraph, rows: list[tuple]) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame(rows, columns=["origin", "destination", "depart_s", "vehicles"])
    df = df.sort_values(["depart_s", "origin", "destination"], kind="mergesort").reset_index(drop=True)
    olon, olat = _node_lonlat(graph, df["origin"].to_numpy())
    dlon, dlat = _node_lonlat(graph, df["destination"].to_numpy())
    df["trip_id"] = np.arange(len(df))
    df["origin_lon"], df["origin_lat"], df["dest_lon"], df["dest_lat"] = olon, olat, dlon, dlat
    df["depart"] = [clock(t) for t in df["depart_s"].tolist()]
    df["straight_m"] = haversine_m(olon, olat, dlon, dlat) if len(df) else np.zeros(0)
    df["vehicles"] = df["vehicles"].astype(np.int64)
    return df[list(TRIPS_COLUMNS)]


def _geh_frame(obs: pd.DataFrame, model: np.ndarray) -> pd.DataFrame:
    import pandas as pd

    count = obs["count_vph"].to_numpy(dtype=np.float64)
    return pd.DataFrame({"sensor_id": obs["sensor_id"].to_numpy(), "hour": obs["hour"].to_numpy(dtype=np.int64),
                         "model_vph": model, "count_vph": count, "geh": geh(model, count)})


def _solve_lsq_linear(A: sparse.csr_matrix, c: np.ndarray, x0: np.ndarray, lam: float
                      ) -> tuple[np.ndarray, dict[str, Any]]:
    """The primal problem as one bounded least-squares problem, by :func:`scipy.optimize.lsq_linear`."""
    from scipy import sparse
    from scipy.optimize import lsq_linear

    n = A.shape[1]
    M = sparse.vstack([A, math.sqrt(lam) * sparse.identity(n, format="csr")]).tocsr()
    b = np.concatenate([c, math.sqrt(lam) * x0])
    res = lsq_linear(M, b, bounds=(0.0, np.inf), method="trf", lsq_solver="lsmr", tol=1e-12,
                     lsmr_tol="auto", max_iter=5000)
    return np.maximum(res.x, 0.0), {"method": "lsq_linear", "converged": bool(res.status > 0),
                                    "iterations": int(res.nit), "message": str(res.message)}


def _solve_dual(A: sparse.csr_matrix, c: np.ndarray, x0: np.ndarray, lam: float, *, tol: float = 1e-9,
                max_iter: int = 100, dense_max: int = 1500) -> tuple[np.ndarray, dict[str, Any]]:
    """``min ||A x - c||^2 + lam ||x - x0||^2, x >= 0`` through its dual, one unknown per detector-hour.

    With the residual's multiplier ``y``, the minimising ``x`` is ``max(0, x0 - A^T y / lam)`` and the
    dual ``q(y) = -|y|^2/2 - y.c + lam |x(y) - x0|^2/2 + y.A x(y)`` is concave and piecewise quadratic,
    with gradient ``A x(y) - c - y``.  Semismooth Newton steps ``(I + A_S A_S^T / lam) d = grad``
    (``S``: the columns with ``x > 0``) with a backtracking line search reach its maximum in a few
    steps; at the maximum ``y = A x - c`` and ``x`` solves the primal (its KKT conditions).  The
    Newton system is solved densely up to ``dense_max`` detector-hours, by conjugate gradients above.
    """
    m = A.shape[0]
    At = A.T.tocsr()
    y = np.zeros(m)
    scale = max(1.0, float(np.max(np.abs(c))) if m else 1.0)

    def primal(y: np.ndarray) -> np.ndarray:
        return np.maximum(0.0, x0 - (At @ y) / lam)

    def dual(y: np.ndarray, x: np.ndarray) -> float:
        return float(-0.5 * y @ y - y @ c + 0.5 * lam * np.sum((x - x0) ** 2) + y @ (A @ x))

    it, converged = 0, False
    x = primal(y)
    for it in range(1, max_iter + 1):  # noqa: B007
        g = A @ x - c - y
        if float(np.max(np.abs(g), initial=0.0)) <= tol * scale:
            converged = True
            break
        AS = A[:, x > 0].tocsr()
        if m <= dense_max:
            d = np.linalg.solve(np.eye(m) + (AS @ AS.T).toarray() / lam, g)
        else:  # the same system by conjugate gradients, never formed
            from scipy.sparse.linalg import LinearOperator, cg

            ASt = AS.T.tocsr()
            H = LinearOperator((m, m), matvec=lambda z, M=AS, Mt=ASt: z + M @ (Mt @ z) / lam,
                               dtype=np.float64)
            d, _ = cg(H, g, rtol=1e-12, atol=0.0, maxiter=10 * m)
        q0, slope, step = dual(y, x), float(g @ d), 1.0
        while True:
            y_new = y + step * d
            x_new = primal(y_new)
            if dual(y_new, x_new) >= q0 + 1e-4 * step * slope or step < 1e-12:
                break
            step *= 0.5
        y, x = y_new, x_new
    return x, {"method": "dual", "converged": converged, "iterations": it,
               "max_gradient_vph": float(np.max(np.abs(A @ x - c - y), initial=0.0))}


def fit_demand(sensors: Sensors, city: Any, *, trips: pd.DataFrame | int = 2000,
               prior: str | float = "trips", hours: Iterable[int] | None = None, lam: float = 0.01,
               tz: Any = None, assignment: str = "shortest", k: int = 3, theta: float = 1.0,
               min_coverage: float = 0.5, peak: Peak | None = None, weight: str | None = "pois",
               seed: int = 1, method: str = "dual") -> ODFit:
    """Fit origin-destination flows to detector counts (see the module docstring for the model).

    Parameters
    ----------
    sensors
        Readings and sensors (:meth:`Sensors.read`); unsnapped sensors are snapped to ``city``.
    city
        An :class:`optimizer.City`, a road graph, or a city spec (``"helsinki"``).
    trips
        The prior's trips: a trips table (``origin``, ``destination`` graph nodes; optional
        ``depart_s`` and ``vehicles``), or a number of trips to sample
        (:func:`optimizer.inputs.demand.sample_trips` with ``weight`` and ``seed``, one vehicle each).
        Departures missing are drawn from ``peak`` (default 07:00-09:00).
    prior
        ``"trips"``: the trips as they are; a number: the trips scaled to that many vehicles in all;
        ``"scaled"``: scaled by the one factor that fits the counts best (least squares).
    hours
        Local clock hours (0-23) whose counts are fitted (default: every hour with counts).
    lam
        Weight of the prior, ``lam * ||x - x0||^2`` (dimensionless, >= 0).
    tz
        The zone of the trips' clock (default ``round(lon / 15)`` hours at the city's centre).
    assignment, k, theta
        ``"shortest"`` (all on the free-flow shortest path) or ``"split"`` (logit shares over the
        ``k`` shortest paths on their BPR times under the prior, ``theta`` per minute).
    min_coverage
        Least share of an hour a day's readings must cover to count.
    peak, weight
        The departure profile of trips without ``depart_s``, and the sampler's weighting.
    seed
        Seeds the sampled trips and the rounding to whole vehicles.
    method
        ``"dual"`` (default) or ``"lsq_linear"`` (see the module docstring).

    Returns
    -------
    ODFit

    Raises
    ------
    SensorDataError
        No snapped sensor, all readings flagged, no hour shared by the counts and the demand, no
        detector on any route, bad parameters.

    Examples
    --------
    The shipped replay (18 loops, five mornings), from 300 sampled pairs scaled to 8000 vehicles:

    >>> from optimizer.inputs.city import City
    >>> from optimizer.sensing.twin import load_replay
    >>> city = City.load("helsinki")
    >>> r, s = load_replay("helsinki")
    >>> fit = fit_demand(Sensors.from_frames(r, s, city=city), city, trips=300, prior=8000,
    ...                  peak=Peak(6 * 3600, 10 * 3600), tz="Europe/Helsinki")
    >>> out = fit.summary()
    >>> out["share_geh_below_5_after"] >= 0.85 > out["share_geh_below_5_before"]
    True
    """
    import pandas as pd

    if method not in METHODS:
        msg = f"method must be one of {', '.join(METHODS)}, got {method!r}"
        raise SensorDataError(msg)
    if assignment not in ASSIGNMENTS:
        msg = f"assignment must be one of {', '.join(ASSIGNMENTS)}, got {assignment!r}"
        raise SensorDataError(msg)
    lam = _check_number(lam, "lam", 1e-9, 1e6)
    theta = _check_number(theta, "theta", 0.0, 100.0)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 20:
        msg = f"k must be a whole number of candidate routes from 1 to 20, got {k!r}"
        raise SensorDataError(msg)
    if not (prior in ("trips", "scaled") or (not isinstance(prior, (bool, str)) and isinstance(
            prior, (int, float, np.integer, np.floating)) and math.isfinite(float(prior)) and float(prior) > 0)):
        msg = f"prior must be 'trips', 'scaled' or a positive number of vehicles, got {prior!r}"
        raise SensorDataError(msg)

    graph, name, city_obj = _graph(city)
    counts = hourly_counts(sensors, city_obj, tz=tz, hours=hours, min_coverage=min_coverage)
    prior_trips = _prior_trips(graph, city_obj, trips, seed=seed, weight=weight, peak=peak)

    # pair-hours of the prior and of the counted hours
    dep_hour = np.floor(prior_trips["depart_s"].to_numpy() / _HOUR_S).astype(np.int64)
    count_hours = sorted(int(h) for h in counts["hour"].unique())
    prior_hours = sorted(set(dep_hour.tolist()))
    reach = {h + dk for h in prior_hours for dk in (0, 1)}
    if not reach & set(count_hours):
        msg = (f"no overlap in time: the demand departs in {_hours_text(prior_hours)} and the counts cover "
               f"{_hours_text(count_hours)} ({counts.attrs['tz']}); give trips departing in the counted hours "
               "(depart_s, or peak=...) or the zone the counts' clock is in (tz=...)")
        raise SensorDataError(msg)
    pairs = prior_trips[["origin", "destination"]].drop_duplicates().reset_index(drop=True)
    pair_of = {(o, d): i for i, (o, d) in enumerate(zip(pairs["origin"], pairs["destination"]))}
    trip_pair = np.array([pair_of[(o, d)] for o, d in zip(prior_trips["origin"], prior_trips["destination"])],
                         dtype=np.int64)
    col_hours = sorted(set(prior_hours) | set(count_hours))
    hour_pos = {h: i for i, h in enumerate(col_hours)}
    n_pairs, n_hours = len(pairs), len(col_hours)
    x0 = np.zeros(n_pairs * n_hours)
    np.add.at(x0, trip_pair * n_hours + np.array([hour_pos[h] for h in dep_hour.tolist()], dtype=np.int64),
              prior_trips["vehicles"].to_numpy(dtype=np.float64))
    cols = [(p, h) for p in range(n_pairs) for h in col_hours]

    asg = _Assignment(graph, pairs["origin"].to_numpy(), pairs["destination"].to_numpy(),
                      assignment=assignment, k=int(k), theta=theta)
    rows = [((u, v, key), int(h)) for u, v, key, h in zip(counts["u"], counts["v"], counts["key"], counts["hour"])]
    bpr = index = None
    if assignment == "split":
        bpr, index = _bpr_factors(asg, cols, x0, col_hours)
    A = asg.matrix(rows, cols, bpr=bpr, hour_index=index)
    c = counts["count_vph"].to_numpy(dtype=np.float64)
    seen = np.asarray(A.getnnz(axis=0) > 0)
    if not seen.any():
        msg = (f"no detector lies on a route of the demand: the {counts['sensor_id'].nunique()} snapped "
               f"sensor(s) count segments none of the {n_pairs} pairs' routes use in the counted hours; "
               "give more trips, or sensors on the demand's roads")
        raise SensorDataError(msg)

    scale = 1.0
    if prior == "scaled":
        m0 = A @ x0
        denom = float(m0 @ m0)
        scale = float(m0 @ c / denom) if denom > 0 else 1.0
    elif prior != "trips":
        total = float(x0.sum())
        scale = float(prior) / total if total > 0 else 1.0
    x0 = x0 * scale

    # the fit: observed columns only; the rest keep the prior
    x = x0.copy()
    As = A[:, seen].tocsr()
    target = c - A[:, ~seen] @ x0[~seen]
    n_seen = int(seen.sum())
    if method == "dual":
        x[seen], report = _solve_dual(As, target, x0[seen], lam)
    else:
        x[seen], report = _solve_lsq_linear(As, target, x0[seen], lam)

    rng = np.random.default_rng(seed)
    col_hour = np.array([h for _, h in cols], dtype=np.int64)
    vehicles = _systematic_round(x, col_hour, rng)
    trip_rows: list[tuple] = []
    for j in np.flatnonzero(vehicles > 0).tolist():
        p, h = cols[j]
        trip_rows.extend(_trip_rows(pairs["origin"].iloc[p], pairs["destination"].iloc[p], h,
                                    int(vehicles[j]), rng))
    table = _trips_table(graph, trip_rows)

    m_prior, m_fit, m_int = A @ x0, A @ x, A @ vehicles.astype(np.float64)
    flows = pd.DataFrame({"origin": pairs["origin"].to_numpy()[[p for p, _ in cols]],
                          "destination": pairs["destination"].to_numpy()[[p for p, _ in cols]],
                          "hour": col_hour, "prior_vph": x0, "fitted_vph": x, "vehicles": vehicles,
                          "observed": seen})
    from optimizer.inputs.demand import MAX_CSV_TRIPS

    if len(table) > MAX_CSV_TRIPS:
        log.warning("the fitted trips take %d rows, more than the %d a trips CSV may hold", len(table),
                    MAX_CSV_TRIPS)
    info = {
        "city": name, "tz": counts.attrs["tz"], "assignment": assignment,
        "k": int(k) if assignment == "split" else 1, "theta_per_min": theta if assignment == "split" else None,
        "lam": lam, "prior": prior if isinstance(prior, str) else float(prior), "prior_scale": scale,
        "min_coverage": float(min_coverage), "columns_fitted": n_seen,
        "share_geh_below_5_fit": _share_below(geh(m_fit, c)),
        "rmse_vph_fit": float(np.sqrt(np.mean((m_fit - c) ** 2))),
        "solver": report,
        "readings_used": int(counts["readings"].sum()),
        "csv_ready": bool(len(table) <= MAX_CSV_TRIPS),
    }
    return ODFit(trips=table, geh=_geh_frame(counts, m_int), geh_prior=_geh_frame(counts, m_prior),
                 flows=flows, info=info)


def segment_flows(city: Any, trips: pd.DataFrame, segments: Sequence[tuple[Any, Any, Any]],
                  hours: Iterable[int], *, assignment: str = "shortest", k: int = 3,
                  theta: float = 1.0) -> pd.DataFrame:
    """The hourly flows a trips table puts on ``segments`` under :func:`fit_demand`'s assignment.

    ``trips`` needs ``origin, destination, depart_s`` (``vehicles`` default 1).  Returns
    ``u, v, key, hour, model_vph``, one row per segment and hour (the model side of GEH for any
    demand, and a way to make counts from a known demand).

    Examples
    --------
    >>> import pandas as pd
    >>> from optimizer.inputs.city import City
    >>> city = City.load("helsinki")
    >>> from optimizer.inputs.demand import sample_trips
    >>> t = sample_trips(city, 1, seed=3).assign(depart_s=7 * 3600.0, vehicles=60)
    >>> from optimizer.inputs.roads import fastest_edge
    >>> import networkx as nx
    >>> path = nx.shortest_path(city.graph, t.origin[0], t.destination[0], weight="travel_time")
    >>> first = fastest_edge(city.graph, path[0], path[1])
    >>> segment_flows(city, t, [first], [7, 8])["model_vph"].tolist()
    [60.0, 0.0]
    """
    graph, _, _ = _graph(city)
    if assignment not in ASSIGNMENTS:
        msg = f"assignment must be one of {', '.join(ASSIGNMENTS)}, got {assignment!r}"
        raise SensorDataError(msg)
    hs = _check_hours(hours)
    t = _prior_trips(graph, graph, trips, seed=0, weight=None, peak=None)
    pairs = t[["origin", "destination"]].drop_duplicates().reset_index(drop=True)
    pair_of = {(o, d): i for i, (o, d) in enumerate(zip(pairs["origin"], pairs["destination"]))}
    dep_hour = np.floor(t["depart_s"].to_numpy() / _HOUR_S).astype(np.int64)
    col_hours = sorted(set(dep_hour.tolist()))
    pos = {h: i for i, h in enumerate(col_hours)}
    x = np.zeros(len(pairs) * len(col_hours))
    idx = [pair_of[(o, d)] * len(col_hours) + pos[h]
           for o, d, h in zip(t["origin"], t["destination"], dep_hour.tolist())]
    np.add.at(x, np.array(idx, dtype=np.int64), t["vehicles"].to_numpy(dtype=np.float64))
    cols = [(p, h) for p in range(len(pairs)) for h in col_hours]
    asg = _Assignment(graph, pairs["origin"].to_numpy(), pairs["destination"].to_numpy(),
                      assignment=assignment, k=int(k), theta=float(theta))
    edges = [tuple(e) for e in segments]
    rows = [(e, h) for e in edges for h in hs]
    bpr = index = None
    if assignment == "split":
        bpr, index = _bpr_factors(asg, cols, x, col_hours)
    A = asg.matrix(rows, cols, bpr=bpr, hour_index=index)
    import pandas as pd

    return pd.DataFrame({"u": [e[0] for e, _ in rows], "v": [e[1] for e, _ in rows],
                         "key": [e[2] for e, _ in rows], "hour": [h for _, h in rows], "model_vph": A @ x})


def geh_table(sensors: Sensors, city: Any, trips: pd.DataFrame, *, tz: Any = None,
              hours: Iterable[int] | None = None, assignment: str = "shortest", k: int = 3,
              theta: float = 1.0, min_coverage: float = 0.5) -> pd.DataFrame:
    """GEH per detector-hour of any trips table against the counts (e.g. a fit judged on other days or sensors).

    ``trips`` needs ``origin, destination, depart_s`` (``vehicles`` default 1); the flows are
    :func:`segment_flows`'s, the counts :func:`hourly_counts`'s.  Returns :data:`GEH_COLUMNS`.
    """
    counts = hourly_counts(sensors, city, tz=tz, hours=hours, min_coverage=min_coverage)
    edges = list(dict.fromkeys(zip(counts["u"], counts["v"], counts["key"])))
    flows = segment_flows(city, trips, edges, sorted(set(counts["hour"].tolist())), assignment=assignment,
                          k=k, theta=theta)
    model = counts.merge(flows, on=["u", "v", "key", "hour"], how="left")["model_vph"].fillna(0.0)
    return _geh_frame(counts, model.to_numpy(dtype=np.float64))
