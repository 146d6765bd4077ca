"""The results database: one DuckDB table ``runs``, one row per finished solver run.

Every ``summary.json`` field is a column.  Scalars keep their own column
(``objective``, ``gap``, ``wall_time_s``, ...); nested dicts (``instance``,
``options``, ``qubo``, ``qaoa``) are kept whole as JSON columns *and* flattened
into ``instance_<key>``, ``options_<key>``, ``qubo_<key>`` and ``qaoa_<key>``
columns; the whole summary is kept as JSON in ``summary``.  Besides those:
``run_id`` (primary key), ``job``, ``scenario`` (the instance name without its
seed, so runs over seeds group), ``started_utc`` / ``finished_utc``, ``host``,
``versions`` (JSON: the packages that made the run) and ``out_dir`` (the run's
folder, where its plans lie).

One process writes the database (the batch's client).  Every write is one
transaction that only *adds* rows (``INSERT OR IGNORE``): a run already in the
table is never rewritten, and a batch that fails or is killed leaves every
committed row as it was.  The connection is opened for each write and closed
after it, so a report or a notebook can read the file while a batch runs.

Examples
--------
>>> import tempfile, pathlib
>>> db = ResultsDB(pathlib.Path(tempfile.mkdtemp()) / "results.duckdb")
>>> db.check_writable()
>>> summary = {"problem": "traffic", "instance": {"name": "toy-t2-k2-s1", "trips": 2},
...            "solver": "exact", "label": "exact", "objective": 3.5, "feasible": True}
>>> db.add([make_row(summary, run_id="abc", job="doc")])
1
>>> db.run_ids()
{'abc'}
>>> float(db.frame()["objective"][0]), float(db.frame()["instance_trips"][0])
(3.5, 2.0)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.errors import InvalidInputError
from optimizer.io import json_default

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import pandas as pd

__all__ = [
    "CORE_COLUMNS",
    "ResultsDB",
    "ResultsDatabaseError",
    "ingest_outputs",
    "make_row",
    "package_versions",
    "scenario_of",
]

log = logging.getLogger(__name__)

TABLE = "runs"

#: The fixed columns of ``runs`` and their DuckDB types (flattened columns are added as met).
CORE_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR PRIMARY KEY",
    "job": "VARCHAR",
    "scenario": "VARCHAR",
    "problem": "VARCHAR",
    "instance_name": "VARCHAR",
    "solver": "VARCHAR",
    "label": "VARCHAR",
    "seed": "BIGINT",
    "status": "VARCHAR",
    "objective": "DOUBLE",
    "objective_units": "VARCHAR",
    "qubo_energy": "DOUBLE",
    "feasible": "BOOLEAN",
    "best_bound": "DOUBLE",
    "gap": "DOUBLE",
    "wall_time_s": "DOUBLE",
    "host": "VARCHAR",
    "cityopt_version": "VARCHAR",
    "schema_version": "BIGINT",
    "started_utc": "TIMESTAMP",
    "finished_utc": "TIMESTAMP",
    "versions": "JSON",
    "out_dir": "VARCHAR",
    "instance": "JSON",
    "options": "JSON",
    "qubo": "JSON",
    "qaoa": "JSON",
    "summary": "JSON",
}

#: Nested summary dicts flattened to ``<prefix>_<key>`` columns.
FLATTENED = ("instance", "options", "qubo", "qaoa")

_JSON_COLUMNS = frozenset(k for k, v in CORE_COLUMNS.items() if v == "JSON")
_LOCK_RETRY_S = 30.0
#: Columns a ``runs`` table must have to be cityopt's (reports and resumes read them).
_REQUIRED_COLUMNS = ("run_id", "job", "scenario", "problem", "instance_name", "solver", "label", "seed", "objective",
                     "summary")
_CORRUPT_FIX = ("it is corrupt, truncated, empty or another kind of file: move it away (re-running the job makes a "
                "new one, taking every finished run from its folder without solving it again) or name another "
                "database file")


class ResultsDatabaseError(InvalidInputError):
    """The results database cannot be created, opened or written at the path given."""


def scenario_of(instance_name: str) -> str:
    """The instance name without its seed (``helsinki-t3-k2-s1`` -> ``helsinki-t3-k2``).

    Examples
    --------
    >>> scenario_of("case9-u3-p4-l1-s2-q60")
    'case9-u3-p4-l1-q60'
    """
    return re.sub(r"-s\d+(?=-|$)", "", instance_name)


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape a run's result."""
    import platform
    from importlib import metadata

    from optimizer import __version__

    out = {"cityopt": __version__, "python": platform.python_version()}
    for dist in ("dask", "distributed", "duckdb", "ortools", "cirq-core", "qsimcirq", "pandapower",
                 "osmnx", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _sql_type(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, (int, float)):
        return "DOUBLE"
    if isinstance(value, str):
        return "VARCHAR"
    return "JSON"


def _dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, sort_keys=True)


def _column_name(prefix: str, key: str) -> str:
    return f"{prefix}_" + re.sub(r"[^0-9a-zA-Z_]", "_", str(key)).lower()


def _utc(ts: Any) -> datetime | None:
    """A naive UTC datetime from a datetime or an ISO string (``Z`` or an offset allowed)."""
    if ts is None:
        return None
    if not isinstance(ts, datetime):
        ts = datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def make_row(summary: Mapping[str, Any], *, run_id: str, job: str | None = None,
             started_utc: Any = None, finished_utc: Any = None, versions: Mapping[str, str] | None = None,
             out_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The ``runs`` row of one run: every summary field as a column, plus the run's identity.

    Parameters
    ----------
    summary : mapping
        The run's ``summary.json``.
    run_id : str
        The run's stable id (:func:`optimizer.runs.jobs.run_id`).
    job : str, optional
    started_utc, finished_utc : datetime or ISO string, optional
        When the run began and ended (UTC).
    versions : mapping, optional
        Package versions of the process that ran it (default: this process's).
    out_dir : path, optional
        The run's folder.

    Returns
    -------
    dict
        Column name -> value (JSON columns as JSON text).
    """
    s = dict(summary)
    inst = s.get("instance") if isinstance(s.get("instance"), Mapping) else {}
    name = str(inst.get("name", s.get("instance") or ""))
    row: dict[str, Any] = {
        "run_id": run_id,
        "job": job,
        "scenario": scenario_of(name),
        "instance_name": name,
        "started_utc": _utc(started_utc),
        "finished_utc": _utc(finished_utc),
        "versions": _dumps(dict(versions) if versions is not None else package_versions()),
        "out_dir": str(out_dir) if out_dir is not None else None,
        "summary": _dumps(s),
    }
    for key, value in s.items():
        col = re.sub(r"[^0-9a-zA-Z_]", "_", str(key)).lower()
        if col in row:
            continue
        if col in _JSON_COLUMNS or (col not in CORE_COLUMNS and _sql_type(value) == "JSON"):
            row[col] = None if value is None else _dumps(value)
        else:
            row[col] = value
        if key in FLATTENED and isinstance(value, Mapping):
            for k, v in value.items():
                row[_column_name(key, k)] = v if _sql_type(v) != "JSON" else _dumps(v)
    if row.get("seed") is None and isinstance(inst.get("seed"), int):
        row["seed"] = inst["seed"]
    return row


class ResultsDB:
    """The DuckDB results database at ``path`` (created on first write).

    Parameters
    ----------
    path : path-like
        The ``.duckdb`` file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"ResultsDB({str(self.path)!r})"

    # ------------------------------------------------------------ connections
    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write connection inside one transaction: committed if the block ends, rolled back if it raises.

        A failed commit (a full disk) is rolled back quietly: the error raised is
        the first one, as :class:`ResultsDatabaseError`.
        """
        import duckdb

        con = self._connect(read_only=False)
        failed = False
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                failed = True
                with contextlib.suppress(Exception):  # a connection a failed write invalidated cannot roll back
                    con.execute("ROLLBACK")
                raise
        except duckdb.Error as exc:
            raise self._error("could not be written", exc, "if its disk is full, free space there or name another "
                              "database file (--db, or `database:` in the job file); the runs' folders are kept, and "
                              "the next batch adds their rows") from None
        finally:
            if failed:
                with contextlib.suppress(Exception):
                    con.close()
            else:
                con.close()

    def _error(self, what: str, exc: BaseException, fix: str) -> ResultsDatabaseError:
        reason = " ".join(str(exc).split())
        reason = re.sub(r"^[A-Z][A-Za-z ]* Error: ", "", reason)  # DuckDB's class prefix ("IO Error: ")
        reason = reason.replace(f'"{self.path.resolve()}"', "it").replace(f'"{self.path}"', "it")[:300]
        return ResultsDatabaseError(f"database {str(self.path)!r} {what} ({reason}); {fix}")

    def _connect(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Open the file, waiting while another process holds its lock; every failure a ResultsDatabaseError."""
        import duckdb

        if self.path.is_dir():
            msg = f"database path {str(self.path)!r} is a folder; name a .duckdb file"
            raise ResultsDatabaseError(msg)
        deadline = time.monotonic() + _LOCK_RETRY_S
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:
                if "lock" in str(exc).lower():
                    if time.monotonic() < deadline:
                        time.sleep(0.1)
                        continue
                    raise self._error(f"is in use by another process for {_LOCK_RETRY_S:g} s", exc,
                                      "wait for it to finish (or close it, e.g. in a notebook), or name another "
                                      "database file") from None
                raise self._error("is not a readable DuckDB database", exc, _CORRUPT_FIX) from None
            except OSError as exc:
                raise self._error("cannot be opened", exc, "check its path and permissions, or name another "
                                  "database file") from None

    def _check_schema(self, con: duckdb.DuckDBPyConnection) -> bool:
        """True if ``runs`` exists; ResultsDatabaseError if the file is some other DuckDB database."""
        import duckdb

        try:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if TABLE not in tables:
                other = sorted(tables - {"benchmarks"})
                if other:
                    msg = (f"database {str(self.path)!r} is a DuckDB database but not cityopt's results (it holds "
                           f"{', '.join(map(repr, other[:5]))} and no {TABLE!r} table); name another database file "
                           f"(--db, or `database:` in the job file)")
                    raise ResultsDatabaseError(msg)
                return False
            cols = {r[0] for r in con.execute(f"DESCRIBE {TABLE}").fetchall()}
        except duckdb.Error as exc:
            raise self._error("cannot be read", exc, _CORRUPT_FIX) from None
        missing = [c for c in _REQUIRED_COLUMNS if c not in cols]
        if missing:
            msg = (f"database {str(self.path)!r} is a DuckDB database but not cityopt's results (its table {TABLE!r} "
                   f"lacks {', '.join(missing)}); name another database file (--db, or `database:` in the job file)")
            raise ResultsDatabaseError(msg)
        return True

    def check_writable(self) -> None:
        """Create the file and the ``runs`` table if needed; raise a clear error if that fails.

        Raises
        ------
        ResultsDatabaseError
            The folder cannot be made or written, the file is not a DuckDB database (corrupt,
            truncated, empty, another kind of file), or it is another program's database.
        """
        import duckdb

        fix = "choose a writable path with `database:` in the job file or --db"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=self.path.parent)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            msg = f"database path {str(self.path)!r} is not writable ({exc.strerror or exc}); {fix}"
            raise ResultsDatabaseError(msg) from exc
        if self.path.is_dir():
            msg = f"database path {str(self.path)!r} is a folder; name a .duckdb file; {fix}"
            raise ResultsDatabaseError(msg)
        existed = self.path.exists()
        con = self._connect(read_only=False)
        try:
            if not self._check_schema(con):
                cols = ", ".join(f'"{k}" {v}' for k, v in CORE_COLUMNS.items())
                con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({cols})")
        except duckdb.Error as exc:
            raise self._error("cannot hold the runs table", exc, fix) from None
        finally:
            with contextlib.suppress(Exception):
                con.close()
        if not existed:
            log.debug("created the results database %s", self.path)

    # ------------------------------------------------------------ writing
    def add(self, rows: Iterable[Mapping[str, Any]], *, replace: bool = False) -> int:
        """Add rows in one transaction; rows whose ``run_id`` is present are left alone.

        Parameters
        ----------
        rows : iterable of mapping
            From :func:`make_row`.
        replace : bool
            Replace rows with the same ``run_id`` instead (``cityopt demo`` re-runs).

        Returns
        -------
        int
            Rows written.
        """
        rows = [dict(r) for r in rows]
        if not rows:
            return 0
        if not self.path.exists():
            self.check_writable()
        with self.transaction() as con:
            cols = {c: t for c, t, *_ in con.execute(f"DESCRIBE {TABLE}").fetchall()}
            for row in rows:
                for key, value in row.items():
                    if key not in cols:
                        typ = CORE_COLUMNS.get(key) or _sql_type(value)
                        if typ is None:
                            continue  # only nulls so far: added when a value comes
                        con.execute(f'ALTER TABLE {TABLE} ADD COLUMN "{key}" {typ}')
                        cols[key] = typ
                    elif value is not None and cols[key] == "DOUBLE" and _sql_type(value) not in (
                            "DOUBLE", "BOOLEAN"):
                        con.execute(f'ALTER TABLE {TABLE} ALTER "{key}" TYPE VARCHAR')
                        cols[key] = "VARCHAR"
            written = 0
            for row in rows:
                keys = [k for k in row if k in cols]
                vals = [_coerce(row[k], cols[k]) for k in keys]
                if replace:
                    con.execute(f"DELETE FROM {TABLE} WHERE run_id = ?", [row["run_id"]])
                before = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
                con.execute(
                    f"INSERT OR IGNORE INTO {TABLE} ({', '.join(f'{chr(34)}{k}{chr(34)}' for k in keys)}) "
                    f"VALUES ({', '.join('?' * len(keys))})", vals)
                written += con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] - before
        return written

    # ------------------------------------------------------------ reading
    def exists(self) -> bool:
        return self.path.is_file()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, bool]]:
        """A read-only connection and whether ``runs`` exists; every failure a ResultsDatabaseError."""
        import duckdb

        con = self._connect(read_only=True)
        try:
            yield con, self._check_schema(con)
        except duckdb.Error as exc:
            raise self._error("cannot be read", exc, _CORRUPT_FIX) from None
        finally:
            with contextlib.suppress(Exception):
                con.close()

    def run_ids(self) -> set[str]:
        """The ids of the runs in the table (empty when there is no database yet)."""
        if not self.exists():
            return set()
        with self._reading() as (con, has_runs):
            if not has_runs:
                return set()
            return {r[0] for r in con.execute(f"SELECT run_id FROM {TABLE}").fetchall()}

    def frame(self, where: str | None = None) -> pd.DataFrame:
        """The ``runs`` table as a pandas DataFrame (ordered by problem, scenario, seed, label).

        Raises
        ------
        ResultsDatabaseError
            No database at the path, or it cannot be read (corrupt, truncated, empty, another program's).
        """
        import pandas as pd

        if self.path.is_dir():
            msg = f"{str(self.path)!r} is a folder, not a results database; give the .duckdb file a batch wrote"
            raise ResultsDatabaseError(msg)
        if not self.exists():
            msg = f"no results database at {str(self.path)!r}; run a batch first (cityopt batch JOB.yaml)"
            raise ResultsDatabaseError(msg)
        with self._reading() as (con, has_runs):
            if not has_runs:
                return pd.DataFrame(columns=list(CORE_COLUMNS))
            sql = f"SELECT * FROM {TABLE}" + (f" WHERE {where}" if where else "")
            return con.execute(sql + " ORDER BY problem, scenario, seed, label, run_id").df()


def flatten_figures(results: Mapping[str, Any], prefix: str = "") -> list[tuple[str, float]]:
    """Every numeric leaf of a nested benchmark result as ``(dotted.path, value)``.

    Examples
    --------
    >>> flatten_figures({"exact": {"n": 20, "speedup": 160.5, "name": "x"}, "ok": True})
    [('exact.n', 20.0), ('exact.speedup', 160.5)]
    """
    out: list[tuple[str, float]] = []
    for k, v in results.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out += flatten_figures(v, key)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
            out.append((key, float(v)))
    return out


def record_benchmarks(db_path: str | os.PathLike[str], results: Mapping[str, Any], *,
                      label: str = "cityopt bench") -> int:
    """Append a benchmark run's figures to table ``benchmarks`` of the results database.

    One row per figure: ``bench_id, label, recorded_utc, host, versions, metric, value``,
    written in one transaction (a failure leaves the database as it was).
    """
    import platform
    import uuid

    db = ResultsDB(db_path)
    db.check_writable()
    rows = flatten_figures(results)
    now = datetime.now(UTC)
    bench_id = uuid.uuid4().hex[:16]
    versions = json.dumps(package_versions())
    with db.transaction() as con:
        con.execute("CREATE TABLE IF NOT EXISTS benchmarks (bench_id VARCHAR, label VARCHAR, "
                    "recorded_utc TIMESTAMPTZ, host VARCHAR, versions VARCHAR, metric VARCHAR, value DOUBLE)")
        con.executemany("INSERT INTO benchmarks VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [(bench_id, label, now, platform.node(), versions, m, v) for m, v in rows])
    return len(rows)


def _has_table(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                            [TABLE]).fetchone()[0])


def _coerce(value: Any, typ: str) -> Any:
    if value is None:
        return None
    if typ == "VARCHAR" and not isinstance(value, str):
        return _dumps(value)
    if typ == "DOUBLE" and isinstance(value, bool):
        return float(value)
    return value


def ingest_outputs(out: str | os.PathLike[str], db_path: str | os.PathLike[str], *, job: str = "demo",
                   replace: bool = True) -> int:
    """Add every ``OUT/<problem>/<instance>/<label>/summary.json`` under ``out`` to a database.

    For folders that ``cityopt run`` or ``cityopt demo`` wrote (a batch adds its
    rows itself).  A folder with a ``run.json`` (a batch's) keeps its run id;
    others get one from their problem, instance, label and cityopt version.

    Returns
    -------
    int
        Rows written.
    """
    out = Path(out)
    db = ResultsDB(db_path)
    db.check_writable()
    rows = []
    for path in sorted(out.glob("*/*/*/summary.json")):
        summary = json.loads(path.read_text(encoding="utf-8"))
        summary.setdefault("label", path.parent.name)  # e.g. the demo's milp-continuous folder
        summary.setdefault("solver", path.parent.name)
        meta_path = path.with_name("run.json")
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        rid = meta.get("run_id") or hashlib.sha256(
            f"{path.parent.relative_to(out)}|{summary.get('cityopt_version')}".encode()).hexdigest()[:16]
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        rows.append(make_row(summary, run_id=rid, job=meta.get("job", job),
                             started_utc=meta.get("started_utc"), finished_utc=meta.get("finished_utc", mtime),
                             versions=meta.get("versions"), out_dir=path.parent.resolve()))
    return db.add(rows, replace=replace)
