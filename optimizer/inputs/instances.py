"""Literature instances: TSPLIB / CVRPLIB files read with the ``vrplib`` package.

:func:`read_instance` returns the cost matrix with the depot first, the
coordinates, demands, capacity and vehicle count; :class:`InstanceFileError`
names what is wrong with a file that cannot be used: the file, the line where
it can, and the fix.

Before ``vrplib`` parses a file, :func:`read_instance` checks it line by line
(UTF-8 text, ``KEY : value`` lines then ``*_SECTION`` blocks of finite
numbers, a ``DIMENSION`` of at most :data:`MAX_DIMENSION`), so that a bad file
gives one line naming its first bad line instead of a parser's traceback, and a
huge ``DIMENSION`` is refused before any matrix is built.  The ``NAME`` a file
gives becomes a safe folder name (:func:`optimizer.io.slug`); the raw text is
kept as ``raw_name``.

Examples
--------
>>> import pathlib, tempfile
>>> f = pathlib.Path(tempfile.mkdtemp()) / "t.tsp"
>>> _ = f.write_text("NAME : ../../x\\nTYPE : TSP\\nDIMENSION : 3\\nEDGE_WEIGHT_TYPE : EUC_2D\\n"
...                  "NODE_COORD_SECTION\\n1 0 0\\n2 3 4\\n3 6 8\\nEOF\\n")
>>> d = read_instance(f)
>>> d["name"], d["raw_name"], d["cost"][0].tolist()
('x', '../../x', [0.0, 5.0, 10.0])
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.errors import InvalidInputError
from optimizer.inputs.checks import one_line
from optimizer.io import slug

__all__ = ["MAX_BYTES", "MAX_DIMENSION", "MAX_VALUE", "InstanceFileError", "read_instance"]

#: Most locations (depot included) an instance may have: the depot and 2,000
#: customers, as many stops as a fleet scenario takes.
MAX_DIMENSION = 2_001
#: Largest file read (bytes): a full explicit matrix of :data:`MAX_DIMENSION` fits.
MAX_BYTES = 64 * 1024 * 1024
#: Largest absolute value of a number in a data section (coordinates, weights, demands).
MAX_VALUE = 1e9
#: Largest ``CAPACITY`` and ``VEHICLES``.
MAX_CAPACITY = 1_000_000
MAX_VEHICLES = 500

_SUPPORTED_WEIGHTS = ("EUC_2D", "CEIL_2D", "ATT", "EXPLICIT")
_EXPLICIT_FORMATS = ("FULL_MATRIX", "LOWER_ROW")
_FIX = "fix that line, or re-download the instance from CVRPLIB/TSPLIB"


class InstanceFileError(InvalidInputError):
    """A TSPLIB / CVRPLIB instance file is missing, unreadable or of an unsupported kind."""


def _fail(file: Path, msg: str, line: int | None = None) -> InstanceFileError:
    where = f"instance {str(file)!r}" + (f" line {line}" if line is not None else "")
    return InstanceFileError(f"{where}: {msg}")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _scan(file: Path, text: str) -> dict[str, tuple[int, str]]:
    """Check the file's shape line by line; return its ``KEY : value`` lines as ``{KEY: (line, value)}``.

    Mirrors how ``vrplib`` reads (blank lines and ``#`` comments skipped, ``EOF``
    ends the file) and refuses, naming the line, what it would choke on or read wrongly.
    """
    specs: dict[str, tuple[int, str]] = {}
    section: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if "EOF" in s:
            if s != "EOF":
                raise _fail(file, f"{s[:60]!r} holds 'EOF' inside other text; put EOF alone on the last line", number)
            break
        if "_SECTION" in s:
            head = s.rstrip(" :")
            if not re.fullmatch(r"[A-Z_]+_SECTION", head):
                raise _fail(file, f"{s[:60]!r} is not a section header such as NODE_COORD_SECTION; {_FIX}", number)
            section = head
            continue
        if section is None:
            key, colon, value = s.partition(":")
            key = key.strip()
            if not colon or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise _fail(file, f"{s[:60]!r} is neither a 'KEY : value' line nor a section header; {_FIX}",
                            number)
            specs[key.upper()] = (number, value.strip())
            continue
        if ":" in s:
            raise _fail(file, f"{s[:60]!r}: a 'KEY : value' line after the data sections; move it above "
                        f"the first section", number)
        for token in s.split():
            if not _is_number(token):
                raise _fail(file, f"{token[:30]!r} in {section} is not a number; {_FIX}", number)
            value = float(token)
            if not math.isfinite(value) or abs(value) > MAX_VALUE:
                raise _fail(file, f"{token[:30]!r} in {section} is not a finite number of at most "
                            f"{MAX_VALUE:g} in size; {_FIX}", number)
    return specs


def _int_spec(file: Path, specs: dict[str, tuple[int, str]], key: str, low: int, high: int,
              why: str) -> int | None:
    if key not in specs:
        return None
    number, text = specs[key]
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value):
        raise _fail(file, f"{key} is {text[:30]!r}, not a whole number; write e.g. '{key} : {low + 1}'", number)
    if not low <= value <= high:
        raise _fail(file, f"{key} is {int(value):,}, outside {low:,}..{high:,} ({why}); use another instance "
                    f"or fix the field", number)
    return int(value)


def _read_text(file: Path) -> str:
    if not file.is_file():
        msg = f"instance: no file at {str(file)!r}; give a TSPLIB/CVRPLIB .vrp or .tsp file"
        raise InstanceFileError(msg)
    size = file.stat().st_size
    if size > MAX_BYTES:
        raise _fail(file, f"the file is {size / 2**20:,.0f} MiB, above the {MAX_BYTES // 2**20} MiB cityopt "
                    f"reads; use a smaller instance")
    data = file.read_bytes()
    if b"\x00" in data:
        raise _fail(file, "the file holds NUL bytes: it is binary, not a TSPLIB/CVRPLIB text file; give "
                    "the .vrp/.tsp text (unpack it if compressed)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _fail(file, f"byte {data[exc.start]:#04x} is not UTF-8 text; save the file as UTF-8 (or ASCII) "
                    f"text", line) from exc


def read_instance(path: str | Path) -> dict[str, Any]:
    """Read a TSPLIB / CVRPLIB file with the ``vrplib`` package; Euclidean costs as the file defines them.

    ``EUC_2D`` distances are rounded to the nearest integer (TSPLIB's ``nint``,
    which CVRPLIB's published optima use), ``CEIL_2D`` rounded up, ``EXPLICIT``
    matrices taken as they are.  Returns ``name`` (a safe folder name made from
    the file's ``NAME``), ``raw_name`` (as the file wrote it), ``cost`` (matrix,
    depot first), ``coords`` (or None), ``demands``, ``capacity``, ``vehicles``
    (from a ``VEHICLES`` field or a ``-k<V>`` name, else None) and ``comment``.

    Raises
    ------
    InstanceFileError
        No such file; not UTF-8 text; a line that is not ``KEY : value``, a
        section header or numbers (the line is named); ``DIMENSION`` missing or
        outside 2..:data:`MAX_DIMENSION`; an unsupported ``EDGE_WEIGHT_TYPE``;
        sections that do not match ``DIMENSION``; a depot, demand, capacity or
        vehicle count out of range.
    """
    from vrplib.parse import parse_vrplib

    file = Path(path)
    text = _read_text(file)
    specs = _scan(file, text)
    dim = _int_spec(file, specs, "DIMENSION", 2, MAX_DIMENSION,
                    f"the depot and at most {MAX_DIMENSION - 1:,} customers")
    if dim is None:
        raise _fail(file, "no DIMENSION line; add 'DIMENSION : <number of locations, depot included>' "
                    "above the sections")
    _int_spec(file, specs, "CAPACITY", 1, MAX_CAPACITY, "a vehicle's capacity")
    _int_spec(file, specs, "VEHICLES", 1, MAX_VEHICLES, "vehicles in the fleet")
    ewt = specs.get("EDGE_WEIGHT_TYPE", (None, ""))[1].upper()
    if ewt not in _SUPPORTED_WEIGHTS:
        msg = (f"EDGE_WEIGHT_TYPE {ewt or 'missing'!r} is not supported; "
               f"use {', '.join(_SUPPORTED_WEIGHTS[:-1])} or {_SUPPORTED_WEIGHTS[-1]}")
        raise _fail(file, msg, specs.get("EDGE_WEIGHT_TYPE", (None,))[0])
    if ewt == "EXPLICIT":
        fmt = specs.get("EDGE_WEIGHT_FORMAT", (None, ""))[1].upper()
        if fmt not in _EXPLICIT_FORMATS:
            raise _fail(file, f"EDGE_WEIGHT_FORMAT {fmt or 'missing'!r} is not supported with EXPLICIT weights; "
                        f"use {' or '.join(_EXPLICIT_FORMATS)}", specs.get("EDGE_WEIGHT_FORMAT", (None,))[0])
    try:
        raw = parse_vrplib(text, compute_edge_weights=False)
    except Exception as exc:  # vrplib raises bare ValueError/IndexError/... on malformed files
        raise _fail(file, f"cannot be read as TSPLIB/CVRPLIB ({one_line(exc)}); {_FIX}") from exc

    coords = raw.get("node_coord")
    if ewt in ("EUC_2D", "CEIL_2D", "ATT"):
        xy = _array(file, coords, "NODE_COORD_SECTION", (dim, 2))
        d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
        if ewt == "EUC_2D":
            cost = np.floor(d + 0.5)
        elif ewt == "CEIL_2D":
            cost = np.ceil(d)
        else:  # ATT pseudo-Euclidean
            r = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1) / 10.0)
            t = np.floor(r + 0.5)
            cost = np.where(t < r, t + 1, t)
    else:
        if raw.get("edge_weight") is None:
            raise _fail(file, "EXPLICIT weights but no EDGE_WEIGHT_SECTION; add the matrix")
        cost = _array(file, raw["edge_weight"], "EDGE_WEIGHT_SECTION", (dim, dim))
        if (cost < 0).any():
            raise _fail(file, "EDGE_WEIGHT_SECTION holds a negative weight; weights are distances (>= 0)")
    depots = _array(file, raw.get("depot", [0]), "DEPOT_SECTION", None).reshape(-1)
    depot = int(depots[0]) if depots.size else 0
    if depots.size and (depots[0] != depot or not 0 <= depot < dim):
        raise _fail(file, f"DEPOT_SECTION names location {depots[0] + 1:g}, outside 1..{dim}; name the depot's "
                    f"number, then -1")
    order = [depot] + [i for i in range(dim) if i != depot]
    cost = cost[np.ix_(order, order)]
    demand = raw.get("demand")
    if demand is not None:
        dem = _array(file, demand, "DEMAND_SECTION", (dim,))
        if (dem < 0).any():
            raise _fail(file, "DEMAND_SECTION holds a negative demand; demands are >= 0")
        demands = dem[order][1:]
    else:
        demands = np.ones(dim - 1)
    capacity = raw.get("capacity")
    vehicles = raw.get("vehicles")
    raw_name = str(raw.get("name", file.stem))
    if vehicles is None:
        m = re.search(r"-k(\d+)", raw_name)
        vehicles = int(m.group(1)) if m and 1 <= int(m.group(1)) <= MAX_VEHICLES else None
    return {"name": slug(raw_name, default=slug(file.stem, default="instance")), "raw_name": raw_name,
            "cost": cost, "coords": None if coords is None else np.asarray(coords, float)[order],
            "demands": demands, "capacity": None if capacity is None else float(capacity),
            "vehicles": None if vehicles is None else int(vehicles), "comment": raw.get("comment"),
            "type": str(raw.get("type", ""))}


def _array(file: Path, data: Any, section: str, shape: tuple[int, ...] | None) -> np.ndarray:
    """``data`` as a float array of ``shape``, else InstanceFileError naming the section."""
    try:
        arr = np.asarray(data, dtype=float)
    except (TypeError, ValueError) as exc:
        raise _fail(file, f"{section} has rows of different lengths; give each row the same number of "
                    f"values") from exc
    if shape is not None and arr.shape != shape:
        want = " x ".join(map(str, shape))
        got = " x ".join(map(str, arr.shape)) or "none"
        raise _fail(file, f"{section} holds {got} values where DIMENSION asks for {want}; make the section "
                    f"match DIMENSION")
    return arr
