"""The job file: its pydantic schema, :func:`load_job` checking it whole, and the runs it holds.

Every error is one :class:`JobError` naming the field (``scenarios[0].solverz``)
and the fix, with a did-you-mean for a typo'd key, problem, solver, city or
grid.  Private to :mod:`optimizer.runs.jobs`, which re-exports the public names
(:class:`Job`, :class:`JobError`, :class:`RunSpec`, :func:`load_job`, :func:`run_id`).

Everything is checked before anything is written, and the work a file may ask
for is bounded:

- the file is at most :data:`MAX_JOB_BYTES`, read by a YAML loader that refuses
  more than :data:`MAX_ALIASES` aliases or :data:`MAX_NODES` nodes once aliases
  are expanded (an alias bomb is refused in milliseconds), and a syntax error is
  one line ``FILE:LINE:COLUMN: problem``;
- every scenario's parameters pass :func:`optimizer.runs.scenarios.check_scenario`
  (``scenarios[2].periods``), every seed is an integer in ``[0, MAX_SEED]``,
  time limits are finite, and every solver's options pass
  :func:`optimizer.solve.check_request`;
- a solver ``label`` is one safe folder name (:func:`optimizer.io.check_name`:
  no ``/``, ``..``, ``.`` or hidden names); two runs that would share a run
  folder are refused;
- a job holds at most :data:`MAX_RUNS` runs.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from optimizer.errors import InvalidInputError

__all__ = ["MAX_ALIASES", "MAX_JOB_BYTES", "MAX_NODES", "MAX_RUNS", "Job", "JobError", "RunSpec", "load_job",
           "run_id"]


#: The problems a scenario can pose.
PROBLEMS = ("traffic", "fleet", "dispatch")

#: The largest job file read, in bytes (a job of thousands of runs is a few kB).
MAX_JOB_BYTES = 1_000_000
#: The most YAML aliases (``*name``) a job file may use.
MAX_ALIASES = 200
#: The most YAML nodes a job file may hold once its aliases are expanded.
MAX_NODES = 100_000
#: The most runs (scenarios x seeds x solvers) one job may hold; split larger studies into several jobs.
MAX_RUNS = 5_000


class JobError(InvalidInputError):
    """A job file is missing, not YAML, or has a field that is unknown, mistyped or out of range."""


# ---------------------------------------------------------------------------- the schema
def _models() -> dict[str, Any]:
    """The pydantic models of a job file (built on first use: pydantic is not imported with optimizer)."""
    return _build_models()


@functools.cache
def _build_models() -> dict[str, Any]:
    from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt

    strict = ConfigDict(extra="forbid", strict=True)
    #: seconds: finite and > 0 (NaN and .inf are refused)
    Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]  # noqa: N806

    class SolverEntry(BaseModel):
        """One solver: its registered name, its options, and the folder label of its runs."""

        model_config = strict
        name: str
        label: str | None = None
        options: dict[str, Any] = Field(default_factory=dict)
        time_limit_s: Seconds | None = None

    class ScenarioBase(BaseModel):
        model_config = strict
        seeds: list[int] = Field(default_factory=lambda: [1], min_length=1)
        solvers: list[SolverEntry] | None = None

    class TrafficScenario(ScenarioBase):
        """Route assignment in a city: ``trips`` trips, ``routes`` candidate routes each."""

        problem: Literal["traffic"]
        city: str = "helsinki"
        trips: PositiveInt = 12
        routes: PositiveInt = 3
        weight: Literal["pois", "buildings"] | None = None
        min_distance_m: NonNegativeFloat = 300.0
        vehicles_per_trip: PositiveInt = 1
        objective: Literal["bpr", "congestion"] = "bpr"
        peak: str = "07:00-09:00"
        slice_min: PositiveFloat = 15.0
        bpr_alpha: NonNegativeFloat = 0.15
        bpr_beta: PositiveFloat = 4.0
        simulate: bool = False  # every plan replayed in SUMO
        references: bool = False  # AequilibraE's UE, SO and the SO bound beside each plan

    class FleetScenario(ScenarioBase):
        """Fleet routing: ``stops`` stops sampled in a city (a TSP with one vehicle, else a CVRP), or an instance."""

        problem: Literal["fleet"]
        city: str = "helsinki"
        stops: PositiveInt = 8
        vehicles: PositiveInt | None = None
        capacity: PositiveInt | None = None
        poi: str | None = None
        instance: str | None = None

    class DispatchScenario(ScenarioBase):
        """A day's unit commitment and dispatch on a grid."""

        problem: Literal["dispatch"]
        grid: str = "case9"
        units: PositiveInt | None = None
        periods: PositiveInt = 24
        levels: PositiveInt = 1
        quantum_mw: PositiveFloat | None = None
        balancing: Literal["auto", "ext_grid", "spill"] = "auto"
        day: PositiveInt | None = None
        load_scale: NonNegativeFloat = 1.0
        network: bool = False
        ac: bool = False
        devices: str | None = None  # a device CSV (optimizer.inputs.devices)
        evs: Annotated[int, Field(ge=0, le=100_000)] | None = None
        batteries: Annotated[int, Field(ge=0, le=100_000)] | None = None
        dr: Annotated[int, Field(ge=0, le=100_000)] | None = None
        encoding: Literal["auto", "levels", "onehot"] = "auto"  # the QUBO's variables (Dispatch)

    class JobFile(BaseModel):
        """A batch job: scenarios x solvers x seeds."""

        model_config = strict
        name: str | None = None
        output: str = "outputs/batch"
        database: str | None = None
        retries: Annotated[int, Field(ge=0, le=10)] = 2
        time_limit_s: Seconds | None = None
        solvers: list[SolverEntry] = Field(default_factory=list)
        scenarios: list[Annotated[TrafficScenario | FleetScenario | DispatchScenario,
                                  Field(discriminator="problem")]] = Field(min_length=1)

    return {"JobFile": JobFile, "SolverEntry": SolverEntry, "traffic": TrafficScenario, "fleet": FleetScenario,
            "dispatch": DispatchScenario}


def _path_text(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the job file"


def _model_at(loc: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
    """Walk ``loc`` from the job's root model: the model holding the last key, and ``loc`` without union tags."""
    models = _models()
    model: Any = models["JobFile"]
    clean: list[Any] = []
    i = 0
    while i < len(loc):
        part = loc[i]
        clean.append(part)
        if model is None or isinstance(part, int):
            i += 1
            continue
        if part == "scenarios":
            if i + 2 < len(loc) and loc[i + 2] in PROBLEMS:
                clean.append(loc[i + 1])
                model = models[loc[i + 2]]
                i += 3
                continue
            model = None
        elif part == "solvers":
            model = models["SolverEntry"]
        elif i < len(loc) - 1:
            model = None
        i += 1
    return model, tuple(clean)


def _format_error(err: Mapping[str, Any]) -> str:
    """One line per pydantic error: the field's path, what is wrong, and the fix."""
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    model, clean = _model_at(loc)
    if kind == "extra_forbidden":
        key = clean[-1]
        where = _path_text(clean[:-1])
        allowed = sorted(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
        return f"unknown key {key!r} at {where}; {hint}"
    where = _path_text(clean)
    if kind == "union_tag_invalid":
        given = (err.get("ctx") or {}).get("tag")
        close = difflib.get_close_matches(str(given), list(PROBLEMS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{where}.problem: unknown problem {given!r}; use 'traffic', 'fleet' or 'dispatch'{hint}"
    if kind == "union_tag_not_found":
        return f"{where}: missing key 'problem'; add problem: traffic, fleet or dispatch"
    if kind == "missing":
        return f"{where}: required key missing; add it"
    given = err.get("input")
    shown = f"{given!r} ({type(given).__name__})" if not isinstance(given, (dict, list)) else type(given).__name__
    return f"{where}: {err.get('msg', 'invalid value')}, got {shown}"


# ---------------------------------------------------------------------------- runs and jobs
@dataclass(frozen=True)
class RunSpec:
    """One run of a batch: a scenario at one seed, solved by one solver.

    Attributes
    ----------
    run_id : str
        Stable id (:func:`run_id`).
    problem : {"traffic", "fleet", "dispatch"}
    params : dict
        The scenario's parameters (city or grid, sizes), defaults filled in.
    seed : int
        Seed of the scenario and of the solver.
    solver, label : str
        Registered solver name; folder name of the run.
    options : dict
    time_limit_s : float or None
    where : str
        Where in the job file the run comes from (``scenarios[1] x solvers[0] seed 2``).
    judges : dict
        Traffic: ``simulate`` (SUMO) and ``references`` (AequilibraE), where asked for.
    """

    run_id: str
    problem: str
    params: Mapping[str, Any]
    seed: int
    solver: str
    label: str
    options: Mapping[str, Any] = field(default_factory=dict)
    time_limit_s: float | None = None
    where: str = ""
    judges: Mapping[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["params"], d["options"], d["judges"] = dict(self.params), dict(self.options), dict(self.judges)
        return d


@dataclass(frozen=True)
class Job:
    """A loaded, checked job: where it writes and every run it holds."""

    name: str
    path: Path | None
    output: Path
    database: Path
    runs: tuple[RunSpec, ...]
    retries: int = 2


def run_id(problem: str, params: Mapping[str, Any], seed: int, solver: str, options: Mapping[str, Any],
           time_limit_s: float | None = None) -> str:
    """The stable id of a run: 16 hex digits of a SHA-256 over what makes the run, and the version.

    Examples
    --------
    >>> a = run_id("traffic", {"city": "helsinki", "trips": 3}, 1, "cpsat", {})
    >>> a == run_id("traffic", {"trips": 3, "city": "helsinki"}, 1, "cpsat", {})
    True
    >>> a == run_id("traffic", {"city": "helsinki", "trips": 3}, 2, "cpsat", {})
    False
    """
    from optimizer import __version__

    text = json.dumps({"problem": problem, "params": dict(params), "seed": seed, "solver": solver,
                       "options": dict(options), "time_limit_s": time_limit_s, "cityopt": __version__},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_city(city: str, where: str, base: Path | None) -> None:
    import city_data
    from optimizer.inputs.city import is_place_query

    if city_data.find_city(city) is not None or is_place_query(city):
        return
    p = Path(city).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    if p.exists():
        return
    names = ", ".join(city_data.available_cities())
    close = difflib.get_close_matches(city.lower(), list(city_data.available_cities()), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    msg = (f"{where}.city: unknown city {city!r}; {hint}use a bundled city ({names}), an OSM file path, "
           f"or a 'Place, Country' query")
    raise JobError(msg)


def _check_grid(grid: str, where: str, base: Path | None) -> None:
    import city_data
    from optimizer.inputs.grid import is_simbench_code

    if city_data.find_grid(grid) is not None or is_simbench_code(grid):
        return
    p = Path(grid).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    if p.exists():
        return
    names = list(city_data.available_grids())
    close = difflib.get_close_matches(grid.lower(), names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    msg = (f"{where}.grid: unknown grid {grid!r}; {hint}use a bundled grid ({', '.join(names)}), a SimBench "
           f"code, or a pandapower JSON / MATPOWER file path")
    raise JobError(msg)


# ---------------------------------------------------------------------------- reading YAML, bounded
def _loader() -> type:
    """A SafeLoader that counts: more than :data:`MAX_ALIASES` aliases stops it at once."""
    import yaml

    class JobLoader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    mark = self.peek_event().start_mark
                    msg = (f"line {mark.line + 1}, column {mark.column + 1}: more than {MAX_ALIASES} YAML aliases "
                           f"(*name); write the values out, or split the job")
                    raise _TooLarge(msg)
            return super().compose_node(parent, index)

    return JobLoader


class _TooLarge(Exception):
    pass


def _expanded_size(root: Any) -> int:
    """Nodes of a composed YAML document with every alias expanded, counted without expanding them.

    Raises _TooLarge past :data:`MAX_NODES` or on an alias that contains itself.
    """
    import yaml

    size: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    open_: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            if size[key] > MAX_NODES:
                msg = (f"more than {MAX_NODES} values once its aliases are expanded; write a smaller job, or split "
                       f"it")
                raise _TooLarge(msg)
            continue
        if key in size:
            continue
        if key in open_:
            mark = node.start_mark
            msg = f"line {mark.line + 1}, column {mark.column + 1}: an alias contains itself; remove the loop"
            raise _TooLarge(msg)
        if isinstance(node, yaml.ScalarNode):
            size[key] = 1
            continue
        open_.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node))
    return size[id(root)]


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def read_yaml(path: Path) -> Any:
    """The content of the YAML file ``path``, read with bounds; every problem is one :class:`JobError` line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "job.yaml"
    >>> _ = p.write_text("a: [1, 2\\nb: 3\\n")
    >>> read_yaml(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optimizer.runs.job_file.JobError: .../job.yaml:2:2: while parsing a flow sequence; expected ',' or ']', but got ':'; fix the YAML there
    >>> _ = p.write_text("a: &a [x, x]\\nb: &b [*a, *a]\\nc: &c [*b, *b]\\n")
    >>> read_yaml(p)["c"][1][0]
    ['x', 'x']
    """
    import yaml

    if not path.is_file():
        what = "a folder" if path.is_dir() else "no job file"
        msg = f"{what} at {str(path)!r}; give the path of a YAML job file (see examples/city_day.yaml)"
        raise JobError(msg)
    try:
        raw = path.read_bytes() if path.stat().st_size <= MAX_JOB_BYTES else None
    except OSError as exc:
        msg = f"{path}: cannot be read ({exc.strerror or exc}); check its permissions"
        raise JobError(msg) from None
    if raw is None or len(raw) > MAX_JOB_BYTES:
        msg = f"{path}: larger than {MAX_JOB_BYTES // 1_000_000} MB; a job file is a few kB, is this the right file?"
        raise JobError(msg)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{path}: not UTF-8 text (byte {exc.start}); give a YAML job file"
        raise JobError(msg) from None
    loader = _loader()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except _TooLarge as exc:
        raise JobError(f"{path}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        what = "; ".join(" ".join(str(x).split()) for x in (exc.context, exc.problem) if x)
        msg = f"{where}: {what or 'not valid YAML'}; fix the YAML there"
        raise JobError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{path}: not valid YAML ({' '.join(str(exc).split())}); fix the file"
        raise JobError(msg) from None
    except RecursionError:
        msg = f"{path}: nested too deeply; a job file is a few levels of lists and mappings"
        raise JobError(msg) from None
    finally:
        loader.dispose()


def _resolve(base: Path | None, text: str) -> Path:
    p = Path(text).expanduser()
    return Path(os.path.normpath(p if p.is_absolute() or base is None else (base / p)))


def load_job(source: str | os.PathLike[str] | Mapping[str, Any], *,
             database: str | os.PathLike[str] | None = None) -> Job:
    """Read and check a job file (or a dict of one); every error names its field.

    Parameters
    ----------
    source : path or mapping
        A YAML job file, or its content as a dict (paths then relative to the cwd).
    database : path, optional
        Overrides the file's ``database`` (``cityopt batch --db``); relative to the cwd.

    Returns
    -------
    Job

    Raises
    ------
    JobError
        The file is missing or not YAML, or a field is unknown, mistyped or out of range,
        or names an unknown solver, solver option, city or grid.
    """
    from pydantic import ValidationError

    from optimizer.errors import BackendUnavailableError, InvalidOptionError, UnknownSolverError
    from optimizer.io import UnsafePathError, check_name
    from optimizer.runs.scenarios import MAX_SEED, check_scenario
    from optimizer.solve import applies, check_request, folder_label, solver_entry, solver_names

    path: Path | None = None
    if isinstance(source, Mapping):
        data: Any = dict(source)
        base = None
    else:
        path = Path(source)
        data = read_yaml(path)
        base = path.parent
    if not isinstance(data, Mapping):
        msg = f"{path or 'the job'} must be a YAML mapping with 'scenarios' and 'solvers', got {type(data).__name__}"
        raise JobError(msg)
    try:
        model = _models()["JobFile"].model_validate(data)
    except ValidationError as exc:
        lines = [_format_error(e) for e in exc.errors()]
        head = f"{path}: " if path else ""
        msg = head + lines[0] + (("\n  " + "\n  ".join(lines[1:])) if len(lines) > 1 else "")
        raise JobError(msg) from None

    n_runs = sum(len(sc.seeds) * len(sc.solvers if sc.solvers is not None else model.solvers)
                 for sc in model.scenarios)
    if n_runs > MAX_RUNS:
        msg = (f"{path or 'the job'}: {n_runs} runs (scenarios x seeds x solvers), more than the {MAX_RUNS} one job "
               f"may hold; split it into several jobs (they may share 'output' and 'database')")
        raise JobError(msg)
    names = solver_names()
    runs: list[RunSpec] = []
    seen_ids: dict[str, str] = {}
    folders: dict[tuple[Any, ...], tuple[str, str]] = {}
    for si, sc in enumerate(model.scenarios):
        where_sc = f"scenarios[{si}]"
        try:  # every parameter in range (periods dividing 96, finite scales)
            check_scenario(sc.problem, sc.model_dump(exclude={"seeds", "solvers", "problem"}),
                           field=lambda n, w=where_sc: f"{w}.{n}")
        except InvalidInputError as exc:
            raise JobError(str(exc)) from None
        for i, seed in enumerate(sc.seeds):
            if not 0 <= seed <= MAX_SEED:
                msg = f"{where_sc}.seeds[{i}]: a seed must be an integer from 0 to {MAX_SEED}, got {seed}"
                raise JobError(msg)
        params = _scenario_params(sc, where_sc, base)
        if len(set(sc.seeds)) != len(sc.seeds):
            msg = f"{where_sc}.seeds: repeated seed in {sc.seeds}; list each seed once"
            raise JobError(msg)
        entries = sc.solvers if sc.solvers is not None else model.solvers
        src = f"{where_sc}.solvers" if sc.solvers is not None else "solvers"
        if not entries:
            msg = f"{where_sc}: no solvers; add a top-level 'solvers' list or {where_sc}.solvers"
            raise JobError(msg)
        labels: dict[str, int] = {}
        for vi, entry in enumerate(entries):
            where = f"{src}[{vi}]"
            if entry.name not in names:
                close = difflib.get_close_matches(entry.name, list(names), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                msg = f"{where}.name: unknown solver {entry.name!r}; {hint}choose from {', '.join(sorted(names))}"
                raise JobError(msg)
            if not applies(entry.name, sc.problem):
                kinds = " and ".join(solver_entry(entry.name).problems)
                msg = (f"{where}.name: solver {entry.name!r} does not apply to {sc.problem} problems ({where_sc}); "
                       f"it applies to {kinds} problems: give {where_sc} its own 'solvers' list, from: "
                       f"{', '.join(solver_names(sc.problem))}")
                raise JobError(msg)
            limit = entry.time_limit_s if entry.time_limit_s is not None else model.time_limit_s
            try:
                check_request(entry.name, dict(entry.options), sc.problem, time_limit_s=limit)
            except (InvalidOptionError, UnknownSolverError, BackendUnavailableError) as exc:
                msg = f"{where}.options: {exc}"
                raise JobError(msg) from None
            label = entry.label if entry.label is not None else folder_label(entry.name, entry.options)
            try:  # the label names a folder: one safe name, never a path
                check_name(label, field=f"{where}.label")
            except UnsafePathError as exc:
                given = "" if entry.label else f" (made from the solver and its options; set {where}.label)"
                raise JobError(f"{exc}{given}") from None
            if label in labels:
                msg = (f"{where}: label {label!r} is used by {src}[{labels[label]}] too; give each a distinct "
                       f"'label' (it names the run folder)")
                raise JobError(msg)
            labels[label] = vi
            judges = {k: True for k in ("simulate", "references") if getattr(sc, k, False)}
            for seed in sc.seeds:
                # a judged run writes more than an unjudged one: another id (unjudged ids stay as they were)
                rid = run_id(sc.problem, {**params, **judges}, seed, entry.name, entry.options, limit)
                here = f"{where_sc} x {where} seed {seed}"
                if rid in seen_ids:
                    msg = f"{here} repeats {seen_ids[rid]} (same scenario, seed, solver and options); drop one"
                    raise JobError(msg)
                seen_ids[rid] = here
                fkey = (sc.problem, _instance_key(sc.problem, params), seed, label)
                if fkey in folders and folders[fkey][0] != rid:
                    msg = (f"{here} and {folders[fkey][1]} would write one run folder (label {label!r}, and their "
                           f"scenarios differ only in parameters the instance name does not show); give one of "
                           f"them another 'label', or split them into jobs with different 'output' folders")
                    raise JobError(msg)
                folders[fkey] = (rid, here)
                runs.append(RunSpec(rid, sc.problem, params, seed, entry.name, label, dict(entry.options), limit,
                                    here, judges))
    for key in ("output", "database"):
        if getattr(model, key) is not None and not getattr(model, key).strip():
            msg = f"{path or 'the job'}: '{key}' is empty; name a folder (output) or a .duckdb file (database)"
            raise JobError(msg)
    output = _resolve(base, model.output)
    if database is not None:
        if not str(database).strip():
            msg = "--db is empty; name a .duckdb file"
            raise JobError(msg)
        db = Path(database)
    elif model.database is not None:
        db = _resolve(base, model.database)
    else:
        db = output / "results.duckdb"
    name = model.name or (path.stem if path else "batch")
    return Job(name=name, path=path, output=output, database=db, runs=tuple(runs), retries=model.retries)


def _scenario_params(sc: Any, where: str, base: Path | None) -> dict[str, Any]:
    """The scenario's parameters for :func:`optimizer.runs.scenarios.build_problem`, checked, defaults filled in,
    files made absolute (they are relative to the job file)."""
    params = sc.model_dump(exclude={"seeds", "solvers", "problem", "simulate", "references"})
    if sc.problem == "fleet" and sc.instance is not None:
        given = sorted(sc.model_fields_set & {"city", "stops", "capacity", "poi"})
        if given:
            msg = f"{where}.{given[0]}: the instance file sets the stops and their demands; drop {given[0]!r}"
            raise JobError(msg)
        path = _resolve(base, sc.instance)
        if not path.is_file():
            msg = (f"{where}.instance: no instance file at {str(path)!r}; give a TSPLIB / CVRPLIB file (.tsp, .vrp), "
                   f"relative to the job file")
            raise JobError(msg)
        params["instance"] = str(path.resolve())
        return params
    if sc.problem == "fleet" and params["vehicles"] is None:
        params["vehicles"] = 1  # one folder name for 'vehicles' left out and 'vehicles: 1'
    if sc.problem in ("traffic", "fleet"):
        _check_city(sc.city, where, base)
        if not _is_registered_city(sc.city) and "," not in sc.city:
            params["city"] = str(_resolve(base, sc.city).resolve())  # a file: relative to the job file
        return params
    _check_grid(sc.grid, where, base)
    if not _is_registered_grid(sc.grid):
        params["grid"] = str(_resolve(base, sc.grid).resolve())
    if sc.devices is not None:
        given = sorted(k for k in ("evs", "batteries", "dr") if params.get(k))
        if given:
            msg = f"{where}.{given[0]}: the device file brings its own devices; drop {given[0]!r} or 'devices'"
            raise JobError(msg)
        path = _resolve(base, sc.devices)
        if not path.is_file():
            msg = f"{where}.devices: no device file at {str(path)!r}; give a device CSV, relative to the job file"
            raise JobError(msg)
        params["devices"] = str(path.resolve())
    return params


def _is_registered_city(name: str) -> bool:
    import city_data

    return city_data.find_city(name) is not None


def _is_registered_grid(name: str) -> bool:
    import city_data
    from optimizer.inputs.grid import is_simbench_code

    return city_data.find_grid(name) is not None or is_simbench_code(name)


def _instance_key(problem: str, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """The parameters that a run folder's instance name shows."""
    if problem == "traffic":
        return (str(params["city"]).lower(), params["trips"], params["routes"])
    if problem == "fleet":
        if params["instance"] is not None:
            return (params["instance"], params["vehicles"])
        return (str(params["city"]).lower(), params["stops"], params["vehicles"], params["capacity"], params["poi"])
    return (str(params["grid"]).lower(), params["units"], params["periods"], params["levels"], params["quantum_mw"],
            params.get("devices"), params.get("evs"), params.get("batteries"), params.get("dr"))
