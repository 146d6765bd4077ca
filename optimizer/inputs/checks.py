"""Checks shared by the input readers: WGS84 coordinates, distance to a road graph, one-line causes.

A coordinate read from a file must be a finite number of degrees, a longitude in
``[-180, 180]`` and a latitude in ``[-90, 90]`` (:func:`bad_lonlat`); a point to
be snapped to a city's roads must lie within :data:`MAX_SNAP_M` of its nearest
road node (:func:`check_near_roads`), or it belongs to another city (or has its
lon and lat swapped, which the message then says).  Every message is one line
that names the file, the row and the column, and says the fix.

Examples
--------
>>> import numpy as np
>>> bad_lonlat(np.array([24.9, 500.0, 24.9]), np.array([60.1, 60.1, float("nan")])).tolist()
[False, True, True]
>>> one_line(ValueError("bad thing\\n  at line 3")), one_line(KeyError("bus"))
('bad thing', "no 'bus' entry")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    import pandas as pd

__all__ = [
    "LAT_RANGE",
    "LON_RANGE",
    "MAX_SNAP_M",
    "bad_lonlat",
    "check_lonlat_columns",
    "check_near_roads",
    "one_line",
    "rows_text",
]

#: Longitudes (degrees, WGS84) lie in this range.
LON_RANGE = (-180.0, 180.0)
#: Latitudes (degrees, WGS84) lie in this range.
LAT_RANGE = (-90.0, 90.0)
#: A point farther than this from every road node of the city (metres) is refused:
#: it lies outside the city (a typo, swapped lon/lat, or the wrong city).
MAX_SNAP_M = 5_000.0


def one_line(exc: BaseException, limit: int = 200) -> str:
    """A library's error as one short clause in plain words, for quoting as the cause in a message.

    The first line of its message, at most ``limit`` characters, without the
    exception's class name (users need what is wrong, not the library's
    internals); undecodable bytes are described as such.
    """
    if isinstance(exc, UnicodeDecodeError):
        byte = exc.object[exc.start] if exc.start < len(exc.object) else 0
        return f"not {exc.encoding.upper()} text: byte {byte:#04x} at offset {exc.start}"
    if isinstance(exc, KeyError) and exc.args:
        return f"no {exc.args[0]!r} entry"
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text or "unreadable"


def bad_lonlat(lon: Any, lat: Any) -> np.ndarray:
    """True where ``(lon, lat)`` is not a finite WGS84 position (out of range, NaN or infinite)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(lon) & np.isfinite(lat) & (lon >= LON_RANGE[0]) & (lon <= LON_RANGE[1])
              & (lat >= LAT_RANGE[0]) & (lat <= LAT_RANGE[1]))
    return ~ok


def rows_text(mask: Any, limit: int = 5) -> str:
    """'row 3 (file line 5)' or 'rows 3, 7 (file lines 5, 9)' for the True positions (rows counted from 0 below the header)."""
    where = np.flatnonzero(np.asarray(mask))
    shown = where[:limit].tolist()
    more = f" and {len(where) - limit} more" if len(where) > limit else ""
    label = "row" if len(where) == 1 else "rows"
    lines = ", ".join(str(r + 2) for r in shown)
    return f"{label} {', '.join(map(str, shown))}{more} (file line{'s' if len(where) > 1 else ''} {lines})"


def _number_text(value: float) -> str:
    return f"{value:g}"


def _km(metres: float) -> str:
    """``'6.2 km'`` below 100 km, ``'6,672 km'`` above."""
    km = metres / 1000.0
    return f"{km:.1f} km" if km < 100 else f"{km:,.0f} km"


def check_lonlat_columns(raw: pd.DataFrame, pairs: Sequence[tuple[str, str]], *, where: str,
                         error: type[InvalidInputError]) -> pd.DataFrame:
    """The ``(lon, lat)`` columns of ``raw`` as finite floats in range, else ``error`` naming the row and column.

    ``where`` starts the message (``"trips CSV 'a.csv'"``).  Text that is not a
    number, NaN, infinity, a longitude outside ``[-180, 180]`` or a latitude
    outside ``[-90, 90]`` is refused; the message says when lon and lat look swapped.
    """
    import pandas as pd

    cols = [c for pair in pairs for c in pair]
    coords = raw[cols].apply(pd.to_numeric, errors="coerce").astype(float)
    values = coords.to_numpy()
    not_number = ~np.isfinite(values)
    if not_number.any():
        rows, cidx = np.nonzero(not_number)
        row, col = int(rows[0]), cols[int(cidx[0])]
        msg = (f"{where}: {rows_text(not_number.any(axis=1))}: coordinates are not finite numbers "
               f"(first: row {row}, {col} = {str(raw[col].iloc[row])!r}); write decimal degrees (WGS84), "
               f"e.g. 24.94 for a longitude")
        raise error(msg)
    bad_by_pair = np.column_stack([bad_lonlat(coords[a].to_numpy(), coords[b].to_numpy()) for a, b in pairs])
    bad = bad_by_pair.any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        lon_col, lat_col = pairs[int(np.flatnonzero(bad_by_pair[row])[0])]
        x, y = float(coords[lon_col].iloc[row]), float(coords[lat_col].iloc[row])
        col, value, rng = ((lon_col, x, LON_RANGE) if not LON_RANGE[0] <= x <= LON_RANGE[1]
                           else (lat_col, y, LAT_RANGE))
        swapped = not bad_lonlat(y, x)
        fix = (f"lon and lat look swapped: put the longitude in {lon_col} and the latitude in {lat_col}"
               if swapped else f"longitudes lie in [{LON_RANGE[0]:g}, {LON_RANGE[1]:g}] and latitudes in "
               f"[{LAT_RANGE[0]:g}, {LAT_RANGE[1]:g}]; check the coordinates")
        msg = (f"{where}: {rows_text(bad)}: coordinates out of range (first: row {row}, {col} = "
               f"{_number_text(value)}, outside [{rng[0]:g}, {rng[1]:g}]); {fix}")
        raise error(msg)
    return coords


def check_near_roads(graph: nx.MultiDiGraph, lon: np.ndarray, lat: np.ndarray, dist_m: np.ndarray, *,
                     where: str, what: str, columns: tuple[str, str], city: str,
                     error: type[InvalidInputError], row_of: np.ndarray | None = None,
                     in_file: bool = True) -> None:
    """Refuse points farther than :data:`MAX_SNAP_M` from their nearest road node (``dist_m``).

    ``what`` names the point (``"trip origin"``), ``columns`` its lon/lat columns,
    ``city`` the city's name; ``row_of`` maps each point to its row (default:
    position; ``in_file=False`` for one point given directly, with no rows).  When the first far point would lie near the roads with lon and
    lat swapped, the message says so.
    """
    dist = np.asarray(dist_m, dtype=float)
    far = ~(dist <= MAX_SNAP_M)
    if not far.any():
        return
    rows = np.arange(len(dist)) if row_of is None else np.asarray(row_of)
    first = int(np.flatnonzero(far)[0])
    x, y = float(lon[first]), float(lat[first])
    mask = np.zeros(int(rows.max()) + 1, dtype=bool)
    mask[rows[far]] = True
    fix = "check the coordinates or load the right city"
    if not bad_lonlat(y, x):
        import osmnx as ox

        _, swapped_d = ox.distance.nearest_nodes(graph, [y], [x], return_dist=True)
        if float(np.asarray(swapped_d)[0]) <= MAX_SNAP_M:
            fix = (f"lon and lat look swapped (({y:g}, {x:g}) lies on the roads): put the longitude in "
                   f"{columns[0]} and the latitude in {columns[1]}")
    if not in_file:  # one point given directly, not rows of a file
        msg = (f"{where}: the {what} ({columns[0]}, {columns[1]}) = ({x:g}, {y:g}) is {_km(dist[first])} from "
               f"{city}'s nearest road node, more than {MAX_SNAP_M / 1000.0:g} km; {fix}")
        raise error(msg)
    msg = (f"{where}: {rows_text(mask)}: too far from {city}'s roads (first: row {int(rows[first])}, the "
           f"{what} ({columns[0]}, {columns[1]}) = ({x:g}, {y:g}) is {_km(dist[first])} from "
           f"the nearest road node, more than {MAX_SNAP_M / 1000.0:g} km); {fix}")
    raise error(msg)
