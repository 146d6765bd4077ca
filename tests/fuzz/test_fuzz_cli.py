"""The fuzz suite: every bad input of the catalogue (tests/fuzz/cases.py) must be refused cleanly.

Clean: exit 2, one line ``cityopt: error: ...`` naming the field, no traceback,
nothing written in the working folder and nothing anywhere around the case's
temporary root (see :mod:`tests.fuzz.classify`).  A failure shows the category
and the output.

Cases run in this process through ``optimizer.cli.main`` (fast: imports and the
bundled city load once), each under a 30 s alarm; the few marked
``subprocess`` (a hang in C code, a memory bomb, a job that must really run)
run as ``python -m optimizer.cli``.  The default run holds a subset per input
category (:data:`FAST`); the rest is marked slow (``make test-all``).

The whole catalogue, with counts by category, against any checkout:
``python -m tests.fuzz.survey --jobs 2``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.fuzz.cases import Case, all_cases
from tests.fuzz.classify import Verdict, classify
from tests.fuzz.inprocess import run_inprocess
from tests.fuzz.sandbox import Sandbox, run_subprocess

REPO = Path(__file__).resolve().parents[2]
CASES = all_cases()

#: The default run's subset: per input category, the issue's named cases and one of each kind.
FAST = frozenset({
    # scenario flags: one out of range, one non-finite, one huge, the named ones
    "cli-traffic/routes=huge", "cli-traffic/trips=2pow70", "cli-traffic/min-distance-m=nan",
    "cli-traffic/seed=2pow70", "cli-traffic/seed=neg", "cli-traffic/time-limit=nan",
    "cli-traffic/cvar-alpha=nan-named", "cli-traffic/depth=zero", "cli-traffic/workers=neg",
    "cli-traffic/inapplicable--grid", "cli-traffic/inapplicable--stops", "cli-traffic/weight-with-trips-csv",
    "cli-traffic/out-empty", "cli-traffic/out-is-a-file", "cli-traffic/solver-milp", "cli-traffic/solver-unknown",
    "cli-traffic/backend-option-bad-precision", "cli-traffic/backend-unknown", "cli-traffic/city-helsinki-comma",
    "cli-traffic/exact-too-large-after-cpsat",
    "cli-fleet/stops=huge", "cli-fleet/vehicles=zero", "cli-fleet/cluster-size=3-decompose",
    "cli-fleet/cluster-size-without-decompose", "cli-fleet/stops-csv-with-instance", "cli-fleet/solver-shortest",
    "cli-fleet/inapplicable--trips",
    "cli-dispatch/levels=100000", "cli-dispatch/quantum-mw=1e-9", "cli-dispatch/periods=7",
    "cli-dispatch/load-scale=inf", "cli-dispatch/day-on-case9", "cli-dispatch/inapplicable--trips",
    "cli-dispatch/grid-typo", "cli-dispatch/seed=2pow70",
    # files
    "file-osm/lat-1e308", "file-osm/lon-500", "file-osm/empty", "file-osm/truncated",
    "file-trips/lon-1000", "file-trips/end-at-0-0", "file-trips/swapped-lonlat", "file-trips/missing-columns",
    "file-trips/empty", "file-trips/binary",
    "file-stops/lon-1000", "file-stops/swapped-lonlat", "file-stops/nan", "file-stops/empty",
    "file-grid/json-truncated", "file-grid/json-not-a-net", "file-grid/json-module-os",
    "file-grid/json-module-side-effect", "file-grid/m-garbage", "file-grid/json-no-generators",
    "file-vrp/name-dotdot-x", "file-vrp/name-absolute", "file-vrp/name-dotdot", "file-vrp/garbage",
    "file-vrp/dimension-huge",
    # jobs
    "job/label-dotdot-x", "job/label-absolute", "job/label-dot", "job/label-existing-folder",
    "job/yaml-syntax-error", "job/seeds-20000", "job/periods-7", "job/load-scale-inf", "job/seeds-negative",
    "job/seeds-2pow70", "job/time-limit-nan", "job/unknown-key-scenario", "job/workers-neg",
    "job/qaoa-backend-option-bad", "job/city-helsinki-comma",
    # reports
    "report/db-missing", "report/db-random-bytes", "report/db-empty-file", "report/db-truncated",
    "report/db-foreign-schema", "report/out-a-folder",
})
#: The escape test's default subset.
FAST_ESCAPES = frozenset({"file-vrp/name-dotdot-x", "file-vrp/name-absolute", "job/label-dotdot-x", "job/label-dot"})
#: Cases whose point is that nothing leaves the temporary root.
ESCAPES = frozenset(c.id for c in CASES if c.contained or "label-" in c.id or "absolute" in c.id)


def _params(cases: list[Case], fast: frozenset[str] = FAST) -> list[object]:
    out = []
    for c in cases:
        marks = []
        if c.id not in fast or c.slow:
            marks.append(pytest.mark.slow)
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


def _explain(case: Case, v: Verdict) -> str:
    o = v.outcome
    assert o is not None
    want = "exit 0, writing only under out/" if case.succeed else "exit 2 and one line naming " + \
        " and ".join(repr(e) if isinstance(e, str) else " or ".join(map(repr, e)) for e in case.expect)
    return (f"{case.id}: {v.category.upper()}: {v.reason}\n  cityopt {' '.join(map(repr, case.argv))}\n"
            f"  wanted: {want}\n  exit: {o.rc}{' (hang)' if o.timed_out else ''}  written: {o.written[:8]}\n"
            f"  stderr (tail):\n{o.stderr[-2500:]}\n  stdout (tail):\n{o.stdout[-800:]}")


def _run(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Verdict:
    if case.subprocess:
        out, _ = run_subprocess(case, python=sys.executable, pythonpath=[str(REPO)], timeout_s=60,
                                sandbox_parent=str(tmp_path))
    else:
        out = run_inprocess(case, Sandbox(tmp_path / "case"), monkeypatch, capfd)
    return classify(case, out)


@pytest.mark.parametrize("case", _params(CASES))
def test_bad_input_is_refused_cleanly(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capfd: pytest.CaptureFixture[str]) -> None:
    v = _run(case, tmp_path, monkeypatch, capfd)
    assert v.category == "clean", _explain(case, v)


@pytest.mark.parametrize("case", _params([c for c in CASES if c.id in ESCAPES], fast=FAST_ESCAPES))
def test_nothing_is_written_outside_the_root(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    """The temporary root's parent is a fresh folder: after the case it must hold the root and nothing else,
    and the case's input files must be as they were.  Job cases run for real (a subprocess: Dask and all),
    so a label that escapes does escape here, into the watched folder."""
    if case.subprocess or case.group == "job":
        out, sb = run_subprocess(case, python=sys.executable, pythonpath=[str(REPO)], timeout_s=90,
                                 sandbox_parent=str(tmp_path), keep=True)
    else:
        sb = Sandbox(tmp_path / "case")
        out = run_inprocess(case, sb, monkeypatch, capfd)
    assert sorted(os.listdir(sb.guard)) == ["root"], f"{case.id} wrote beside the root: {os.listdir(sb.guard)}"
    assert out.escaped == [], f"{case.id} wrote outside its working folder: {out.escaped[:10]}"
    damaged = [p for p in out.outside_out if p.endswith((" (deleted)", " (changed)"))]
    assert damaged == [], f"{case.id} changed or deleted files it did not write: {damaged[:10]}"


def test_the_catalogue_covers_every_category() -> None:
    groups = {c.group for c in CASES}
    assert groups == {"cli-traffic", "cli-fleet", "cli-dispatch", "file-osm", "file-trips", "file-stops",
                      "file-grid", "file-vrp", "job", "report"}
    assert len(CASES) >= 270
    assert FAST <= {c.id for c in CASES}, sorted(FAST - {c.id for c in CASES})
    for g in groups:  # the default run touches every category
        assert any(c.id in FAST for c in CASES if c.group == g), g


def test_the_classifier_sees_an_escape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capfd: pytest.CaptureFixture[str]) -> None:
    """The watcher is real: a write beside the root and a deleted input are seen."""
    case = Case("self/escape", "job", ("--version",), files={"keep/precious.txt": "x\n"})
    sb = Sandbox(tmp_path / "case")
    for d in (sb.home, sb.tmp, sb.cache, sb.work):
        d.mkdir(parents=True, exist_ok=True)
    before = sb.prepare(case)
    (sb.guard / "x").write_text("escaped")
    (sb.work / "keep" / "precious.txt").unlink()
    written, outside_out, escaped = sb.written(before)
    assert "x" in escaped and any("precious.txt (deleted)" in p for p in outside_out), written
