"""Power grids: a pandapower network by name or file, and its controllable units.

:meth:`Grid.load` takes

* a bundled name from :data:`city_data.GRIDS` (``case9``, ``case30``, ``case118``,
  ``mv_oberrhein``, ``cigre_mv_der``, ``simbench_mv_rural``, ...), built offline
  by ``pandapower.networks`` or read from the data the ``simbench`` package ships;
* any SimBench code (``"1-MV-rural--0-sw"``), when ``simbench`` is installed;
* ``city:helsinki`` or ``city:PATH``: the distribution grid
  :mod:`optimizer.inputs.city_grid` builds from a city's OSM data (any OSM file
  :meth:`~optimizer.inputs.city.City.load` reads);
* a pandapower JSON file (``.json``) or a MATPOWER case (``.m`` through
  ``matpowercaseframes``, ``.mat`` through scipy), converted by pandapower.

:meth:`Grid.units` lists the units a dispatch can decide on, each a
:class:`Unit` with its limits and costs:

========== =====================================================================
kind       what it is
========== =====================================================================
ext_grid   the connection to the upstream grid: imports (or exports) at a price
gen        a generator (``net.gen``, in service and not ``controllable=False``)
sgen       a static generator of a dispatchable type (CHP, fuel cell, diesel,
           biomass, gas: :data:`DISPATCHABLE_SGEN_TYPES`) or marked
           ``controllable=True``; every other sgen is renewable output
           (:mod:`optimizer.inputs.profiles`)
storage    a battery (``net.storage``): charge, discharge, state of charge
========== =====================================================================

Costs come from the net's ``poly_cost`` (``cp0_eur + cp1_eur_per_mw p +
cp2_eur_per_mw2 p**2`` per hour) or ``pwl_cost`` (slopes between points, zero at
the first point, as pandapower reads them).  Where the net has none, documented
defaults apply (module constants below): marginal costs by fuel type, a typical
day-ahead price shape for the external grid, start-up costs of
:data:`DEFAULT_STARTUP_EUR_PER_MW` per MW of capacity, four-hour batteries half
full at the start.  Optional per-unit columns a user may add to ``net.gen`` /
``net.sgen``: ``startup_cost_eur``, ``ramp_mw_per_h``, ``min_up_h``, ``min_down_h``.

Examples
--------
>>> from optimizer.inputs.grid import Grid
>>> g = Grid.load("case9")
>>> [(u.kind, u.p_max_mw) for u in g.units()]
[('ext_grid', 250.0), ('gen', 300.0), ('gen', 270.0)]
>>> round(g.units()[1].cost.eur_per_h(100.0), 2)   # 600 + 1.2 * 100 + 0.085 * 100**2
1570.0
"""

from __future__ import annotations

import copy
import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from optimizer.errors import GridError, GridNotFoundError, InvalidGridFileError
from optimizer.inputs.checks import one_line

if TYPE_CHECKING:  # pragma: no cover
    import pandapower as pp

__all__ = [
    "DEFAULT_CYCLE_COST_EUR_PER_MWH",
    "DEFAULT_GEN_COST_EUR_PER_MWH",
    "DEFAULT_IMPORT_PRICE_EUR_PER_MWH",
    "DEFAULT_STARTUP_EUR_PER_MW",
    "DEFAULT_STORAGE_HOURS",
    "DISPATCHABLE_SGEN_TYPES",
    "CostCurve",
    "Grid",
    "Unit",
    "is_simbench_code",
]

log = logging.getLogger(__name__)

UnitKind = Literal["ext_grid", "gen", "sgen", "storage"]

#: Start-up cost of a generator without a ``startup_cost_eur`` column, per MW of capacity
#: (a typical figure for gas turbines and small thermal units).
DEFAULT_STARTUP_EUR_PER_MW = 20.0
#: Marginal cost (EUR/MWh) of a generator without ``poly_cost``/``pwl_cost``, by a
#: case-insensitive substring of its ``type``; ``"*"`` is the fallback.
DEFAULT_GEN_COST_EUR_PER_MWH: dict[str, float] = {
    "nuclear": 12.0, "lignite": 35.0, "hard coal": 50.0, "coal": 50.0, "biomass": 65.0,
    "chp": 70.0, "gas": 75.0, "fuel cell": 95.0, "oil": 120.0, "diesel": 140.0, "*": 80.0,
}
#: Import price of an external grid without costs: a typical day-ahead shape
#: (EUR/MWh), hour 0..23: cheap at night, a solar dip at noon, the evening peak.
DEFAULT_IMPORT_PRICE_EUR_PER_MWH: tuple[float, ...] = (
    48, 45, 43, 42, 43, 48, 58, 72, 80, 76, 68, 60, 55, 54, 58, 66, 78, 92, 100, 96, 85, 72, 62, 54,
)
#: Storage without ``max_e_mwh``: this many hours at full power.
DEFAULT_STORAGE_HOURS = 4.0
#: Storage wear cost per MWh discharged (the state of charge is kept lossless).
DEFAULT_CYCLE_COST_EUR_PER_MWH = 5.0
#: sgen types (case-insensitive substrings) that are dispatchable units, not renewable output.
DISPATCHABLE_SGEN_TYPES = ("chp", "fuel cell", "diesel", "biomass", "gas")

#: Largest grid file read (bytes); SimBench's largest grids are a few MiB as pandapower JSON.
MAX_GRID_FILE_BYTES = 256 * 1024 * 1024
#: Largest absolute power, energy, voltage or cost value a grid file may hold.
MAX_GRID_VALUE = 1e9

#: The modules a pandapower JSON may name in ``_module`` (what ``pandapower.to_json`` writes:
#: pandapower's own classes, pandas frames/series/indexes, numpy scalars and arrays, the few
#: builtins it serialises, networkx graphs, shapely and geopandas geometries).  pandapower
#: imports any module a file names, so every other value is refused before it reads the file.
_JSON_MODULES = re.compile(
    r"pandapower(\.[A-Za-z_][A-Za-z0-9_]*)*|pandas(\.core(\.[A-Za-z_][A-Za-z0-9_]*)*)?|numpy|builtins"
    r"|networkx|shapely(\.[A-Za-z_][A-Za-z0-9_]*)*|geopandas(\.[A-Za-z_][A-Za-z0-9_]*)*"
)
_JSON_BUILTINS = frozenset({"tuple", "set", "frozenset", "complex"})

#: The grid name prefix of a city's own distribution grid (``city:helsinki``, ``city:PATH``).
CITY_PREFIX = "city:"
#: Built city grids, by the city's source and file time (a few; each is copied out).
_CITY_NETS: dict[tuple[str, Any, ...], tuple[Any, dict[str, Any]]] = {}

_SIMBENCH_CODE = re.compile(r"^1-[A-Za-z0-9]+-[A-Za-z0-9.]*-[A-Za-z0-9.]*-[0-2]-(sw|no_sw)$")


def is_simbench_code(name: str) -> bool:
    """Whether ``name`` has the shape of a SimBench code (``1-MV-rural--0-sw``).

    Examples
    --------
    >>> is_simbench_code("1-MV-rural--0-sw"), is_simbench_code("case9")
    (True, False)
    """
    return bool(_SIMBENCH_CODE.match(name.strip()))


# ----------------------------------------------------------------- value types
@dataclass(frozen=True)
class CostCurve:
    """A unit's running cost in EUR per hour at output ``p`` MW.

    Polynomial ``c0 + c1 p + c2 p**2`` (``c0`` counts whenever the unit runs), or
    piecewise linear: ``pwl`` is ``((p0, p1, slope), ...)`` with slopes in EUR/MWh,
    zero at the first point.  ``c1_hourly`` (24 values) replaces ``c1`` hour by
    hour when given (the default import tariff).

    Examples
    --------
    >>> CostCurve(c0=10.0, c1=2.0, c2=0.5).eur_per_h(4.0)
    26.0
    >>> CostCurve(pwl=((0.0, 10.0, 1.0), (10.0, 20.0, 3.0))).eur_per_h(15.0)
    25.0
    """

    c0: float = 0.0
    c1: float = 0.0
    c2: float = 0.0
    pwl: tuple[tuple[float, float, float], ...] = ()
    c1_hourly: tuple[float, ...] | None = None
    source: str = "default"

    @property
    def is_pwl(self) -> bool:
        return bool(self.pwl)

    def pwl_convex(self) -> bool:
        """Slopes non-decreasing and segments contiguous (a convex piecewise-linear cost)."""
        segs = self.pwl
        return all(a[2] <= b[2] + 1e-12 and abs(a[1] - b[0]) <= 1e-9 for a, b in zip(segs, segs[1:]))

    def c1_at(self, hours: tuple[float, float] | None = None) -> float:
        """The linear coefficient over the hours ``[h0, h1)`` of a day (mean of ``c1_hourly``)."""
        if self.c1_hourly is None or hours is None:
            return self.c1
        h0, h1 = hours
        total, w = 0.0, 0.0
        h = h0
        while h < h1 - 1e-12:
            nxt = min(h1, math.floor(h + 1e-9) + 1.0)
            total += self.c1_hourly[int(math.floor(h + 1e-9)) % 24] * (nxt - h)
            w += nxt - h
            h = nxt
        return total / w if w else self.c1

    def eur_per_h(self, p_mw: float, hours: tuple[float, float] | None = None) -> float:
        """Cost per hour of running at ``p_mw`` (over ``hours`` for an hourly tariff)."""
        if self.pwl:
            return float(sum(s * max(0.0, min(p_mw, p1) - p0) for p0, p1, s in self.pwl))
        return float(self.c0 + self.c1_at(hours) * p_mw + self.c2 * p_mw * p_mw)

    def to_dict(self) -> dict[str, Any]:
        return {"c0_eur_per_h": self.c0, "c1_eur_per_mwh": self.c1, "c2_eur_per_mw2h": self.c2,
                "pwl": [list(s) for s in self.pwl], "c1_hourly": list(self.c1_hourly) if self.c1_hourly else None,
                "source": self.source}


@dataclass(frozen=True)
class Unit:
    """A controllable unit of a grid, with its limits and costs.

    Attributes
    ----------
    name : str
        Unique within the grid (``"gen 0"``, ``"ext_grid 0"``, ``"storage 1"``).
    kind : {"ext_grid", "gen", "sgen", "storage"}
    index : int
        Row of ``net[kind]``.
    bus : int
    p_min_mw, p_max_mw : float
        Output limits when running.  Storage: ``-p_max_mw`` (charging) to
        ``p_max_mw`` (discharging).  External grid: import limits (negative is export).
    cost : CostCurve
    startup_eur : float
        Cost of each start (off in one period, on in the next).
    ramp_mw_per_h : float or None
        Largest change of output between consecutive periods in which the unit runs.
    min_up_h, min_down_h : float or None
        Least time on after a start and off after a stop.
    initial_on : bool
        Whether the unit runs before the first period (no start-up cost then).
    e_min_mwh, e_max_mwh, e_init_mwh : float
        Storage energy bounds and the state of charge at the start of the day.
    cycle_cost_eur_per_mwh : float
        Storage wear cost per MWh discharged.
    """

    name: str
    kind: UnitKind
    index: int
    bus: int
    p_min_mw: float
    p_max_mw: float
    cost: CostCurve = field(default_factory=CostCurve)
    startup_eur: float = 0.0
    ramp_mw_per_h: float | None = None
    min_up_h: float | None = None
    min_down_h: float | None = None
    initial_on: bool = False
    e_min_mwh: float = 0.0
    e_max_mwh: float = 0.0
    e_init_mwh: float = 0.0
    cycle_cost_eur_per_mwh: float = 0.0

    @property
    def is_storage(self) -> bool:
        return self.kind == "storage"

    def period_cost_eur(self, p_mw: float, hours: tuple[float, float]) -> float:
        """Running cost over the period ``hours = (h0, h1)`` at output ``p_mw`` (no start-up).

        Generators and external grids pay their cost curve times the period's
        length when they run; storage pays its wear cost on the energy discharged.
        """
        dt = hours[1] - hours[0]
        if self.is_storage:
            return self.cycle_cost_eur_per_mwh * max(0.0, p_mw) * dt
        return self.cost.eur_per_h(p_mw, hours) * dt

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "index": self.index, "bus": self.bus,
                "p_min_mw": self.p_min_mw, "p_max_mw": self.p_max_mw, "cost": self.cost.to_dict(),
                "startup_eur": self.startup_eur, "ramp_mw_per_h": self.ramp_mw_per_h,
                "min_up_h": self.min_up_h, "min_down_h": self.min_down_h, "initial_on": self.initial_on,
                "e_min_mwh": self.e_min_mwh, "e_max_mwh": self.e_max_mwh, "e_init_mwh": self.e_init_mwh,
                "cycle_cost_eur_per_mwh": self.cycle_cost_eur_per_mwh}


# ----------------------------------------------------------------------- grid
def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _col(row: Any, name: str) -> Any:
    return row[name] if name in row.index else None


def _flag(v: Any) -> bool | None:
    """A boolean column value, ``None`` when missing or NaN."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        return bool(v)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, eq=False)
class Grid:
    """A pandapower network with its name and where it came from.

    Attributes
    ----------
    name : str
        Registry name, SimBench code or file stem.
    net : pandapower.pandapowerNet
        The network (treat as read-only: use :meth:`copy_net` to change it).
    source : {"pandapower", "simbench", "json", "matpower", "city"}
    description : str
    simbench_code : str or None
        Set for SimBench grids (their profiles are read by :mod:`optimizer.inputs.profiles`).
    """

    name: str
    net: Any
    source: str
    description: str = ""
    simbench_code: str | None = None

    # ------------------------------------------------------------------ load
    @classmethod
    def load(cls, name_or_path: str | Path) -> Grid:
        """A bundled grid by name, a SimBench code, or a pandapower JSON / MATPOWER file.

        Raises
        ------
        GridNotFoundError
            Not a bundled name, a SimBench code or an existing file.
        InvalidGridFileError
            The file is not a pandapower JSON or MATPOWER case, or has no buses.
        BackendUnavailableError
            A SimBench code was asked for and ``simbench`` is not installed.
        """
        from city_data import available_grids, find_grid

        if isinstance(name_or_path, str) and name_or_path.strip().lower().startswith(CITY_PREFIX):
            return cls._from_city(name_or_path.strip()[len(CITY_PREFIX):].strip())
        if isinstance(name_or_path, Path) or Path(str(name_or_path)).suffix.lower() in (".json", ".m", ".mat"):
            return cls._from_file(Path(name_or_path))
        name = str(name_or_path)
        spec = find_grid(name)
        if spec is not None:
            if spec.kind == "simbench":
                return cls._from_simbench(spec.locator, name=spec.name, description=spec.description)
            import pandapower.networks as pn

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = getattr(pn, spec.locator)(**dict(spec.kwargs))
            return cls(spec.name, net, "pandapower", spec.description)
        if Path(name).is_file():
            return cls._from_file(Path(name))
        if is_simbench_code(name):
            return cls._from_simbench(name.strip())
        near = _did_you_mean(name, available_grids())
        hint = f"did you mean {near!r}? Otherwise give" if near else "give"
        msg = (f"unknown grid {name!r}: {hint} a bundled grid ({', '.join(available_grids())}), a SimBench "
               f"code such as '1-MV-rural--0-sw', a pandapower .json / MATPOWER .m or .mat file, or "
               f"{CITY_PREFIX}helsinki / {CITY_PREFIX}PATH (a city's own grid from its OSM file)")
        raise GridNotFoundError(msg)

    @classmethod
    def _from_city(cls, spec: str) -> Grid:
        """The distribution grid :mod:`optimizer.inputs.city_grid` builds from a city (built once per file)."""
        import os

        from optimizer.errors import CityError, CityNotFoundError
        from optimizer.inputs.city import City
        from optimizer.inputs.city_grid import build_city_net

        label = f"{CITY_PREFIX}{spec}"
        if not spec:
            msg = (f"grid {label!r} names no city: give {CITY_PREFIX}helsinki (bundled) or {CITY_PREFIX}PATH "
                   f"to an OSM file (.osm.pbf, .osm, .osm.bz2, .osm.gz)")
            raise GridNotFoundError(msg)
        from city_data import find_city

        registered = find_city(spec) if spec else None
        if registered is not None:  # a bundled city: its grid from the cache, built once per OSM file and code
            return cls._from_city_cached(registered, label)
        try:
            city = City.load(spec)
            loc = city.source.location
            stamp = os.stat(loc).st_mtime_ns if city.source.kind in ("pbf", "xml") and os.path.isfile(loc) else 0
            key = (str(city.source), stamp)
            if key not in _CITY_NETS:
                if len(_CITY_NETS) >= 4:
                    _CITY_NETS.pop(next(iter(_CITY_NETS)))
                _CITY_NETS[key] = build_city_net(city)
            net, info = _CITY_NETS[key]
        except CityNotFoundError as exc:
            msg = f"grid {label!r}: {exc}"
            raise GridNotFoundError(msg) from None
        except (CityError, GridError) as exc:
            msg = f"grid {label!r}: {exc}"
            raise GridError(msg) from None
        desc = (f"distribution grid built from {city.name}'s OSM data: {info['buildings']} building loads, "
                f"{info['trafos']} MV/LV substations, peak {info['peak_mw']:.2f} MW")
        return cls(f"{CITY_PREFIX}{city.name}", copy.deepcopy(net), "city", desc)

    @classmethod
    def _from_city_cached(cls, registered: Any, label: str) -> Grid:
        """A bundled city's grid, read from :mod:`optimizer.inputs.cache` (keyed by the OSM file's and the
        builder's hashes), built and filed there the first time."""
        import json

        import pandapower as pp

        from optimizer.errors import CityError, CityNotFoundError
        from optimizer.inputs.cache import cached_json, file_hash, source_hash

        try:
            path = registered.path()
        except FileNotFoundError as exc:
            raise GridNotFoundError(f"grid {label!r}: {exc}") from None

        def build() -> dict[str, Any]:
            from optimizer.inputs.city import City
            from optimizer.inputs.city_grid import build_city_net

            try:
                net, info = build_city_net(City.load(registered.name))
            except CityNotFoundError as exc:
                raise GridNotFoundError(f"grid {label!r}: {exc}") from None
            except (CityError, GridError) as exc:
                raise GridError(f"grid {label!r}: {exc}") from None
            return {"net": pp.to_json(net), "info": json.loads(json.dumps(info, default=str))}

        key = {"osm": file_hash(path), "code": source_hash("optimizer.inputs.city_grid", "optimizer.inputs.city",
                                                           "optimizer.inputs.normalize", "optimizer.inputs.osm")}
        mem = ("cache", key["osm"], key["code"])
        if mem not in _CITY_NETS:
            data = cached_json("city-grid", key, build,
                               check=lambda d: isinstance(d, dict) and {"net", "info"} <= set(d))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _CITY_NETS[mem] = (pp.from_json_string(data["net"]), data["info"])
        net, info = _CITY_NETS[mem]
        desc = (f"distribution grid built from {registered.name}'s OSM data: {info['buildings']} building loads, "
                f"{info['trafos']} MV/LV substations, peak {info['peak_mw']:.2f} MW")
        return cls(f"{CITY_PREFIX}{registered.name}", copy.deepcopy(net), "city", desc)

    @classmethod
    def _from_simbench(cls, code: str, *, name: str | None = None, description: str = "") -> Grid:
        from optimizer.errors import BackendUnavailableError

        try:
            import simbench as sb
        except ImportError as e:  # pragma: no cover - simbench is a dependency
            msg = f"grid {code!r} is a SimBench code but the 'simbench' package is not installed: pip install simbench"
            raise BackendUnavailableError(msg) from e
        if code not in sb.collect_all_simbench_codes():
            msg = f"grid {code!r} is not a known SimBench code (see simbench.collect_all_simbench_codes())"
            raise GridNotFoundError(msg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = sb.get_simbench_net(code)
        return cls(name or code, net, "simbench", description or f"SimBench grid {code}", simbench_code=code)

    @classmethod
    def _from_file(cls, path: Path) -> Grid:
        import pandapower as pp

        where = f"grid file {str(path)!r}"
        if path.is_dir():
            msg = f"{where} is a folder; name a pandapower .json or MATPOWER .m / .mat file"
            raise InvalidGridFileError(msg)
        if not path.is_file():
            msg = f"{where} does not exist; check the path, or use a bundled grid or SimBench code"
            raise GridNotFoundError(msg)
        suffix = path.suffix.lower()
        if suffix not in (".json", ".m", ".mat"):
            msg = (f"{where} has suffix {suffix!r}; expected a pandapower .json "
                   "or a MATPOWER .m / .mat case")
            raise InvalidGridFileError(msg)
        size = path.stat().st_size
        if size == 0:
            msg = f"{where} is empty; write the grid with pandapower.to_json or export the MATPOWER case again"
            raise InvalidGridFileError(msg)
        if size > MAX_GRID_FILE_BYTES:
            msg = (f"{where} is {size / 2**20:,.0f} MiB, above the {MAX_GRID_FILE_BYTES // 2**20} MiB cityopt "
                   f"reads; use a smaller grid")
            raise InvalidGridFileError(msg)
        if suffix == ".json":
            text = _checked_json(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if suffix == ".json":
                    net, source = pp.from_json_string(text), "json"
                else:
                    from pandapower.converter.matpower import from_mpc

                    net, source = from_mpc(str(path), f_hz=50), "matpower"
        except (Exception, RecursionError) as e:
            if suffix == ".json":
                msg = (f"{where} is not a pandapower network ({one_line(e)}); write it with "
                       f"pandapower.to_json(net, path)")
            else:
                msg = f"{where} is not a usable MATPOWER case: {_matpower_problem(path, e)}"
            raise InvalidGridFileError(msg) from e
        if not isinstance(net, pp.pandapowerNet) or "bus" not in net or len(net.bus) == 0:
            msg = f"{where} holds no pandapower network with buses; add buses (pandapower.create_bus)"
            raise InvalidGridFileError(msg)
        _check_net_values(net, where)
        return cls(path.stem, net, source, f"{source} file {path.name}")

    # ----------------------------------------------------------------- helpers
    def copy_net(self) -> pp.pandapowerNet:
        """A deep copy of the network, safe to change."""
        return copy.deepcopy(self.net)

    def with_net(self, net: pp.pandapowerNet, *, name: str | None = None) -> Grid:
        """The same grid with another network (e.g. a changed copy)."""
        return Grid(name or self.name, net, self.source, self.description, self.simbench_code)

    def nominal_load_mw(self) -> float:
        """Sum of in-service loads' ``p_mw * scaling``."""
        ld = self.net.load
        if len(ld) == 0:
            return 0.0
        return float((ld.p_mw * ld.get("scaling", 1.0) * ld.in_service).sum())

    def summary(self) -> dict[str, Any]:
        """Sizes and sources, JSON-friendly."""
        net = self.net
        return {"name": self.name, "source": self.source, "simbench_code": self.simbench_code,
                **{k: int(len(net[k])) for k in ("bus", "line", "trafo", "load", "gen", "sgen", "ext_grid", "storage")
                   if k in net},
                "nominal_load_mw": round(self.nominal_load_mw(), 6)}

    def __repr__(self) -> str:
        s = self.summary()
        return f"Grid({self.name!r}, buses={s['bus']}, loads={s['load']}, source={self.source!r})"

    # ------------------------------------------------------------------- units
    def _cost(self, et: str, idx: int, *, default: CostCurve) -> CostCurve:
        net = self.net
        pc = net.get("poly_cost")
        if pc is not None and len(pc):
            rows = pc[(pc.et == et) & (pc.element == idx)]
            if len(rows):
                r = rows.iloc[0]
                return CostCurve(float(r.get("cp0_eur", 0.0) or 0.0), float(r.get("cp1_eur_per_mw", 0.0) or 0.0),
                                 float(r.get("cp2_eur_per_mw2", 0.0) or 0.0), source="poly_cost")
        pw = net.get("pwl_cost")
        if pw is not None and len(pw):
            rows = pw[(pw.et == et) & (pw.element == idx) & (pw.get("power_type", "p") == "p")]
            if len(rows):
                pts = tuple((float(a), float(b), float(c)) for a, b, c in rows.iloc[0].points)
                if not pts:
                    msg = f"pwl_cost of {et} {idx} has no points"
                    raise GridError(msg)
                return CostCurve(pwl=pts, source="pwl_cost")
        return default

    @staticmethod
    def _type_cost(kind: str | None) -> float:
        t = str(kind or "").lower()
        for key, v in DEFAULT_GEN_COST_EUR_PER_MWH.items():
            if key != "*" and key in t:
                return v
        return DEFAULT_GEN_COST_EUR_PER_MWH["*"]

    def _thermal(self, table: str, idx: int, row: Any, initial_on: bool) -> Unit:
        p_max = _finite(_col(row, "max_p_mw"))
        if p_max is None:
            p_max = _finite(_col(row, "sn_mva")) if table == "sgen" else None
            p_max = p_max if p_max is not None else abs(_finite(row.p_mw) or 0.0)
        p_min = max(0.0, _finite(_col(row, "min_p_mw")) or 0.0)
        name = str(row["name"]) if isinstance(row.get("name"), str) and row.get("name") else f"{table} {idx}"
        cost = self._cost(table, idx, default=CostCurve(c1=self._type_cost(_col(row, "type")), source="default"))
        startup = _finite(_col(row, "startup_cost_eur"))
        return Unit(name=name, kind=table, index=int(idx), bus=int(row.bus), p_min_mw=min(p_min, p_max),
                    p_max_mw=p_max, cost=cost,
                    startup_eur=startup if startup is not None else DEFAULT_STARTUP_EUR_PER_MW * p_max,
                    ramp_mw_per_h=_finite(_col(row, "ramp_mw_per_h")), min_up_h=_finite(_col(row, "min_up_h")),
                    min_down_h=_finite(_col(row, "min_down_h")), initial_on=initial_on)

    def dispatchable_sgens(self) -> list[int]:
        """Indices of sgens that are units (dispatchable type or ``controllable=True``)."""
        sg = self.net.sgen
        out = []
        for idx, row in sg.iterrows():
            if not bool(row.in_service):
                continue
            typ = str(_col(row, "type") or "").lower()
            if _flag(_col(row, "controllable")) or any(k in typ for k in DISPATCHABLE_SGEN_TYPES):
                out.append(int(idx))
        return out

    def ext_grid_capacity_mw(self, idx: int) -> float:
        """Import limit of an external grid without ``max_p_mw``: its transformers' rating, else twice the load."""
        bus = int(self.net.ext_grid.bus.at[idx])
        tr = self.net.get("trafo")
        cap = 0.0
        if tr is not None and len(tr):
            cap = float(tr[(tr.hv_bus == bus) & tr.in_service].sn_mva.sum())
        return cap if cap > 0 else max(1.0, 2.0 * self.nominal_load_mw())

    def units(self, *, initial_on: bool = False) -> tuple[Unit, ...]:
        """Every controllable unit: external grids, generators, dispatchable sgens, storage.

        Parameters
        ----------
        initial_on : bool
            Whether generators run before the first period (no start-up cost then).

        Raises
        ------
        GridError
            The grid has no controllable unit (nothing can be dispatched).
        """
        net = self.net
        units: list[Unit] = []
        for idx, row in net.ext_grid.iterrows():
            if not bool(row.in_service):
                continue
            cap = _finite(_col(row, "max_p_mw"))
            cap = cap if cap is not None else self.ext_grid_capacity_mw(int(idx))
            lo = _finite(_col(row, "min_p_mw"))
            lo = lo if lo is not None else -cap
            tariff = CostCurve(c1=float(sum(DEFAULT_IMPORT_PRICE_EUR_PER_MWH) / 24),
                               c1_hourly=tuple(float(v) for v in DEFAULT_IMPORT_PRICE_EUR_PER_MWH),
                               source="default tariff")
            name = str(row["name"]) if isinstance(row.get("name"), str) and row.get("name") else f"ext_grid {idx}"
            units.append(Unit(name=name, kind="ext_grid", index=int(idx), bus=int(row.bus), p_min_mw=lo,
                              p_max_mw=cap, cost=self._cost("ext_grid", int(idx), default=tariff),
                              initial_on=True))
        for idx, row in net.gen.iterrows():
            if not bool(row.in_service) or _flag(_col(row, "controllable")) is False:
                continue
            units.append(self._thermal("gen", int(idx), row, initial_on))
        for idx in self.dispatchable_sgens():
            units.append(self._thermal("sgen", idx, net.sgen.loc[idx], initial_on))
        st = net.get("storage")
        if st is not None:
            for idx, row in st.iterrows():
                if not bool(row.in_service):
                    continue
                pmax = max(abs(_finite(_col(row, "max_p_mw")) or 0.0), abs(_finite(_col(row, "min_p_mw")) or 0.0))
                if pmax <= 0:
                    pmax = abs(_finite(row.p_mw) or 0.0) or (_finite(_col(row, "sn_mva")) or 0.0)
                if pmax <= 0:
                    continue
                emax = _finite(_col(row, "max_e_mwh"))
                emax = emax if emax is not None and emax > 0 else DEFAULT_STORAGE_HOURS * pmax
                emin = max(0.0, _finite(_col(row, "min_e_mwh")) or 0.0)
                soc = _finite(_col(row, "soc_percent"))
                e0 = emax * (soc / 100.0 if soc is not None and soc > 0 else 0.5)
                name = str(row["name"]) if isinstance(row.get("name"), str) and row.get("name") else f"storage {idx}"
                units.append(Unit(name=name, kind="storage", index=int(idx), bus=int(row.bus), p_min_mw=-pmax,
                                  p_max_mw=pmax, e_min_mwh=emin, e_max_mwh=emax, e_init_mwh=min(max(e0, emin), emax),
                                  cycle_cost_eur_per_mwh=DEFAULT_CYCLE_COST_EUR_PER_MWH))
        if not units:
            msg = (f"grid {self.name!r} has no controllable unit: no in-service external grid, generator, "
                   "dispatchable sgen or storage; add one (e.g. pandapower.create_ext_grid) to dispatch it")
            raise GridError(msg)
        names = [u.name for u in units]
        if len(set(names)) != len(names):  # make names unique
            seen: dict[str, int] = {}
            fixed = []
            for u in units:
                k = seen.get(u.name, 0)
                seen[u.name] = k + 1
                fixed.append(u if k == 0 else _replace(u, name=f"{u.name} ({u.kind} {u.index})"))
            units = fixed
        return tuple(units)


# ------------------------------------------------------------------ file checks
def _checked_json(path: Path) -> str:
    """The text of a pandapower JSON file, checked before pandapower reads it.

    Refuses, naming the file: text that is not UTF-8 or not JSON (with the line
    and column), JSON that is not a pandapower network, and any ``_module`` that
    pandapower would import and that is not one its own files name
    (:data:`_JSON_MODULES`), also inside the JSON strings that hold its tables.
    """
    import json

    where = f"grid file {str(path)!r}"
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        msg = f"{where} is not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start}); write it with pandapower.to_json"
        raise InvalidGridFileError(msg) from e
    try:
        top = json.loads(text)
    except json.JSONDecodeError as e:
        cut = " (the file looks truncated)" if e.pos >= len(text.rstrip()) else ""
        msg = (f"{where} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}{cut}; "
               f"write it again with pandapower.to_json(net, path)")
        raise InvalidGridFileError(msg) from e
    except RecursionError as e:
        msg = f"{where} nests JSON too deeply to be a pandapower network; write it with pandapower.to_json"
        raise InvalidGridFileError(msg) from e
    _check_json_modules(top, where)
    if not (isinstance(top, dict) and top.get("_module") == "pandapower.auxiliary"
            and top.get("_class") == "pandapowerNet"):
        kind = f"a {type(top).__name__}" if not isinstance(top, dict) else "an object without _class 'pandapowerNet'"
        msg = (f"{where} is JSON but not a pandapower network ({kind}); write the network with "
               f"pandapower.to_json(net, path)")
        raise InvalidGridFileError(msg)
    return text


def _check_json_modules(obj: Any, where: str) -> None:
    """Walk the JSON (and JSON held in its strings) and refuse a ``_module`` outside :data:`_JSON_MODULES`."""
    import json

    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > 100:
            msg = f"{where} nests objects more than 100 deep; it is not a network pandapower.to_json wrote"
            raise InvalidGridFileError(msg)
        if isinstance(item, dict):
            if "_module" in item or "_class" in item:
                module, cls = item.get("_module"), item.get("_class")
                ok = isinstance(module, str) and _JSON_MODULES.fullmatch(module) is not None
                if ok and module == "builtins":
                    ok = cls in _JSON_BUILTINS
                if ok and cls == "function":
                    ok = module.startswith("pandapower")
                if not ok:
                    msg = (f"{where} names _module {module!r} (_class {cls!r}), which pandapower would import "
                           f"and cityopt refuses: a pandapower network names only pandapower, pandas, numpy, "
                           f"networkx, shapely and geopandas; remove that object or write the net with "
                           f"pandapower.to_json")
                    raise InvalidGridFileError(msg)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str) and "_module" in item:
            try:
                inner = json.loads(item)
            except (ValueError, RecursionError):
                continue  # not JSON: pandapower does not decode it either
            stack.append((inner, depth + 1))


def _matpower_problem(path: Path, error: BaseException) -> str:
    """What is wrong with a MATPOWER file pandapower could not convert, and the fix (one clause)."""
    tables: dict[str, Any] = {}
    if path.suffix.lower() == ".m":
        text = path.read_text(encoding="utf-8", errors="replace")
        for key in ("bus", "gen", "branch"):
            found = re.search(rf"mpc\.{key}\s*=\s*\[(.*?)\]", text, flags=re.S)
            if found is None:
                return f"it has no mpc.{key} table; add it (see MATPOWER's caseformat)"
            if not re.search(r"\d", re.sub(r"%[^\n]*", "", found.group(1))):
                if key == "gen":
                    return ("it has no generators (mpc.gen is empty); add at least one generator, e.g. at "
                            "the slack bus")
                return f"its mpc.{key} table is empty; add the case's {key} rows"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if path.suffix.lower() == ".m":
                from matpowercaseframes import CaseFrames

                frames = CaseFrames(str(path))
                tables = {k: getattr(frames, k, None) for k in ("bus", "gen", "branch")}
            else:
                import scipy.io

                mat = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
                if "mpc" not in mat:
                    return ("the .mat file holds no 'mpc' struct; save the case as a struct named mpc "
                            "(MATPOWER's savecase)")
                tables = {k: getattr(mat["mpc"], k, None) for k in ("bus", "gen", "branch")}
    except Exception as e:
        return (f"it cannot be parsed ({one_line(e)}); give a MATPOWER case file (mpc.bus, mpc.gen, "
                f"mpc.branch), e.g. one saved with MATPOWER's savecase")
    import numpy as np

    for key in ("bus", "gen", "branch"):
        table = tables.get(key)
        if table is None:
            return f"it has no mpc.{key} table; add it (see MATPOWER's caseformat)"
        rows = len(table) if hasattr(table, "__len__") else 0
        if rows == 0 or np.size(table) == 0:
            if key == "gen":
                return ("it has no generators (mpc.gen is empty); add at least one generator, e.g. at the "
                        "slack bus")
            return f"its mpc.{key} table is empty; add the case's {key} rows"
    return (f"pandapower cannot convert it ({one_line(error)}); check the case against MATPOWER's "
            f"caseformat")


#: Numeric columns checked in a grid read from a file: (table, column, must be filled).
_VALUE_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("bus", "vn_kv", True),
    ("load", "p_mw", True), ("load", "q_mvar", False), ("load", "scaling", False),
    ("sgen", "p_mw", True), ("sgen", "q_mvar", False), ("sgen", "scaling", False), ("sgen", "sn_mva", False),
    ("sgen", "max_p_mw", False), ("sgen", "min_p_mw", False),
    ("gen", "p_mw", True), ("gen", "max_p_mw", False), ("gen", "min_p_mw", False),
    ("ext_grid", "max_p_mw", False), ("ext_grid", "min_p_mw", False),
    ("storage", "p_mw", False), ("storage", "max_e_mwh", False), ("storage", "min_e_mwh", False),
    ("storage", "max_p_mw", False), ("storage", "min_p_mw", False), ("storage", "soc_percent", False),
    ("poly_cost", "cp0_eur", False), ("poly_cost", "cp1_eur_per_mw", False), ("poly_cost", "cp2_eur_per_mw2", False),
)


def _check_net_values(net: Any, where: str) -> None:
    """Refuse a net read from a file with infinite, huge or missing numbers, or elements on unknown buses."""
    import numpy as np
    import pandas as pd

    for table, column, required in _VALUE_COLUMNS:
        frame = net.get(table) if table in net else None
        if frame is None or column not in getattr(frame, "columns", ()) or len(frame) == 0:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            bad = np.isinf(values) | (np.abs(values) > MAX_GRID_VALUE)
        if required:
            bad |= np.isnan(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            msg = (f"{where}: net.{table}.{column} of element {_plain(frame.index[i])!r} is "
                   f"{_plain(frame[column].iloc[i])!r}; "
                   f"it must be a finite number of at most {MAX_GRID_VALUE:g} in size; fix that value in the file")
            raise InvalidGridFileError(msg)
    buses = set(net.bus.index.tolist())
    for table in ("load", "sgen", "gen", "ext_grid", "storage"):
        frame = net.get(table) if table in net else None
        if frame is None or "bus" not in getattr(frame, "columns", ()) or len(frame) == 0:
            continue
        unknown = [i for i, b in zip(frame.index, frame["bus"]) if b not in buses]
        if unknown:
            msg = (f"{where}: net.{table} element {_plain(unknown[0])!r} sits on bus "
                   f"{_plain(frame['bus'].at[unknown[0]])!r}, "
                   f"which net.bus does not have; connect it to an existing bus")
            raise InvalidGridFileError(msg)


def _did_you_mean(name: str, names: tuple[str, ...]) -> str | None:
    """The bundled grid ``name`` nearly names: equal up to case and punctuation, or a close typo.

    >>> _did_you_mean("Case9,", ("case9", "case30")), _did_you_mean("mv-oberhein", ("mv_oberrhein",))
    ('case9', 'mv_oberrhein')
    """
    import difflib

    def key(text: str) -> str:
        return re.sub(r"[^a-z0-9]+", "", text.lower())

    keys = {key(n): n for n in names}
    if key(name) in keys:
        return keys[key(name)]
    close = difflib.get_close_matches(key(name), list(keys), n=1, cutoff=0.8) if key(name) else []
    return keys[close[0]] if close else None


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (for messages)."""
    return value.item() if hasattr(value, "item") else value


def _replace(u: Unit, **kw: Any) -> Unit:
    from dataclasses import replace

    return replace(u, **kw)
