"""The HTML report: its numbers equal the database's, and a real headless Chromium loads it
with no console errors and a screenshot that shows the plots."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from optimizer.report.html import _scenario_verdict, write_report
from optimizer.runs.results import ResultsDB, ingest_outputs

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = find_chromium()
    if exe is None:
        msg = ("chromium not found: the report's browser test cannot run. Install Debian's chromium "
               "(apt-get update && apt-get install -y chromium), as `make test` does")
        pytest.fail(msg)
    return exe


# ---------------------------------------------------------------------------- a small database
@pytest.fixture(scope="module")
def report_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Traffic (2 seeds) and dispatch (1 seed) runs, QAOA at two depths among them, ingested into a DB."""
    from optimizer.inputs.city import City
    from optimizer.problems.dispatch.problem import Dispatch
    from optimizer.problems.traffic import Traffic
    from optimizer.runs.runner import SolverRequest, run_problem

    out = tmp_path_factory.mktemp("report")
    city = City.load("helsinki")
    traffic = [SolverRequest("shortest"), SolverRequest("cpsat"),
               SolverRequest("qaoa", {"depth": 1, "backend": "fast", "shots": 500}, label="qaoa-p1"),
               SolverRequest("qaoa", {"depth": 2, "backend": "fast", "shots": 500}, label="qaoa-p2")]
    for seed in (1, 2):
        run_problem(Traffic.from_city(city, trips=4, routes=2, seed=seed), traffic, out=out / "runs", seed=seed)
    prob = Dispatch.from_grid("case9", units=3, periods=4, levels=1, seed=1)
    run_problem(prob, [SolverRequest("milp"), SolverRequest("cpsat"),
                       SolverRequest("qaoa", {"depth": 1, "backend": "fast", "shots": 2000}, label="qaoa-p1")],
                out=out / "runs", seed=1)
    db = out / "results.duckdb"
    assert ingest_outputs(out / "runs", db, job="report-test") == 11
    html_path = write_report(db, out / "report.html")
    return db, html_path


class _Cells(HTMLParser):
    """Collect ``data-value`` cells per run row and per solver-statistics row, and img sources."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: dict[str, dict[str, float | None]] = {}
        self.stats: dict[tuple[str, str], list[float | None]] = {}
        self.images: list[str] = []
        self._run: str | None = None
        self._stat: tuple[str, str] | None = None
        self.scripts = 0
        self.external: list[str] = []
        self.frames: list[str] = []  # srcdoc of each iframe

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr":
            self._run = a.get("data-run-id")
            self._stat = (a["data-scenario"], a["data-label"]) if "data-label" in a else None
            if self._run:
                self.runs[self._run] = {}
            if self._stat:
                self.stats[self._stat] = []
        elif tag == "td":
            val = a.get("data-value")
            num = None if val in (None, "None") else float(val)
            if self._run and a.get("data-col"):
                if "data-value" in a:
                    self.runs[self._run][a["data-col"]] = num
            elif self._stat:
                self.stats[self._stat].append(num if "data-value" in a else None)
        elif tag == "img":
            self.images.append(a.get("src") or "")
        elif tag == "script":
            self.scripts += 1
        elif tag == "iframe":
            self.frames.append(a.get("srcdoc") or "")
        for k in ("src", "href"):
            v = a.get(k) or ""
            if v.startswith(("http:", "https:", "//")):
                self.external.append(v)


def test_report_numbers_equal_the_database(report_db: tuple[Path, Path]) -> None:
    db, html_path = report_db
    page = _Cells()
    page.feed(html_path.read_text(encoding="utf-8"))
    df = ResultsDB(db).frame()
    assert set(page.runs) == set(df["run_id"])
    for _, row in df.iterrows():
        cells = page.runs[row["run_id"]]
        for col in ("objective", "best_bound", "gap", "wall_time_s"):
            want = None if row[col] is None or row[col] != row[col] else float(row[col])
            assert cells[col] == want, (row["run_id"], col)
    # per scenario and solver: mean, sd, min, max of the objective over seeds
    for (scenario, label), cells in page.stats.items():
        g = df[(df["scenario"] == scenario) & (df["label"] == label) & df["feasible"]]
        objs = g["objective"].astype(float).to_numpy()
        mean, sd, lo, hi = cells[2:6]  # after the solver and feasible / runs cells
        assert mean == pytest.approx(objs.mean(), rel=1e-12)
        assert sd == pytest.approx(objs.std(ddof=1) if len(objs) > 1 else 0.0, rel=1e-12, abs=1e-12)
        assert (lo, hi) == (objs.min(), objs.max())
    assert {s for s, _ in page.stats} == set(df["scenario"])
    assert len(page.stats) == 4 + 3  # traffic: shortest cpsat qaoa-p1 qaoa-p2; dispatch: milp cpsat qaoa-p1


def test_report_is_self_contained_with_maps_dispatch_and_verdicts(report_db: tuple[Path, Path]) -> None:
    _, html_path = report_db
    text = html_path.read_text(encoding="utf-8")
    page = _Cells()
    page.feed(text)
    assert page.scripts == 0 and page.external == []
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    alts = " ".join(text.split('alt="')[i].split('"')[0] for i in range(1, text.count('alt="') + 1))
    assert "routes and segment loads" in alts
    assert "dispatch and power flow" in alts
    assert "QAOA quality against depth and backend" in alts
    assert "Verdict over seeds" in text and "Power flow:" in text
    assert "helsinki-t4-k2-s1" in text and "case9-u3-p4-l1-s1" in text
    # one interactive map per traffic scenario: Leaflet inlined, nothing linked from the network
    assert len(page.frames) == 1
    inner = _Cells()
    inner.feed(page.frames[0])
    assert inner.external == [] and inner.scripts >= 2  # leaflet.js and the map's own script
    assert "L.map(" in page.frames[0] and "shortest paths (baseline)" in page.frames[0]


def test_traffic_map_layers_and_styles(tmp_path: Path) -> None:
    """One overlay per run, the last shown first; segment colours by load (the heaviest the
    darkest); no tiles; the street background under every overlay."""
    from matplotlib.colors import to_rgb

    from optimizer.maps import traffic_map

    def line(coords, **props):
        return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords}, "properties": props}

    runs = []
    for label, loads in (("shortest", [1, 5]), ("cpsat", [2, 3])):
        d = tmp_path / label
        d.mkdir()
        seg = [line([[24.94, 60.17], [24.95, 60.17]], load=loads[0]), line([[24.95, 60.17], [24.95, 60.18]], load=loads[1])]
        (d / "segment_loads.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": seg}))
        plan = [line([[24.94, 60.17], [24.95, 60.17], [24.95, 60.18]], trip=0)]
        (d / "plan.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": plan}))
        runs.append((label, d))
    m = traffic_map(runs, background=[d for _, d in runs])
    kids = list(m._children.values())
    groups = [c for c in kids if type(c).__name__ == "FeatureGroup"]
    assert [g.layer_name for g in groups] == ["shortest", "cpsat"] and [g.show for g in groups] == [False, True]
    assert not any(type(c).__name__ == "TileLayer" for c in kids)
    assert any(getattr(c, "layer_name", "") == "streets of the plans" for c in kids)
    seg = [f for c in groups[0]._children.values() if c.layer_name.endswith("segment loads") for f in c.data["features"]]
    light, dark = (sum(to_rgb(f["properties"]["_style"]["color"])) for f in seg)
    assert dark < light and seg[1]["properties"]["_style"]["weight"] > seg[0]["properties"]["_style"]["weight"]
    assert traffic_map([("none", tmp_path / "missing")]) is None


def test_a_map_draws_the_busiest_routes_only_and_says_so() -> None:
    from optimizer.maps import map_of_layers

    def line(coords, **props):
        return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords}, "properties": props}

    seg = [line([[24.94, 60.17], [24.95, 60.17]], load=1)]
    routes = [line([[24.94 + i * 1e-4, 60.17], [24.9500001234567, 60.1712345678]], trip_id=i, vehicles=1 + i % 7,
                   nodes=list(range(50))) for i in range(30)]
    m = map_of_layers([("plan", seg, routes)], max_routes=10)
    group = next(c for c in m._children.values() if type(c).__name__ == "FeatureGroup")
    drawn = next(c for c in group._children.values() if c.layer_name.startswith("plan routes"))
    assert drawn.layer_name == "plan routes (10 of 30, most vehicles)"
    feats = drawn.data["features"]
    assert [f["properties"]["vehicles"] for f in feats] == [7] * 4 + [6] * 4 + [5] * 2  # the most vehicles first
    assert all("nodes" not in f["properties"] for f in feats)  # only the keys a map needs
    assert feats[0]["geometry"]["coordinates"][1] == [24.95, 60.171235]  # 1e-6 degree
    full = map_of_layers([("plan", seg, routes[:5])], max_routes=10)
    group = next(c for c in full._children.values() if type(c).__name__ == "FeatureGroup")
    assert any(c.layer_name == "plan routes" for c in group._children.values())


def test_scenario_verdict_says_when_qaoa_loses() -> None:
    stats = [
        {"label": "cpsat", "solver": "cpsat", "runs": 2, "feasible": 2, "objective_mean": 100.0},
        {"label": "qaoa-p1", "solver": "qaoa", "runs": 2, "feasible": 2, "objective_mean": 112.5},
        {"label": "qaoa-p2", "solver": "qaoa", "runs": 2, "feasible": 1, "objective_mean": 100.0},
    ]
    verdicts = [{"winners": ["cpsat"]}, {"winners": ["cpsat", "qaoa-p2"]}]
    text, lost = _scenario_verdict(stats, verdicts, "EUR")
    assert lost
    assert "cpsat has the lowest mean objective, 100 EUR over 2 seed(s)" in text
    assert "QAOA loses: qaoa-p1 is 12.50% above cpsat on average" in text
    assert "qaoa-p2 sampled no feasible plan on 1 of 2 seeds" in text
    assert "best on each seed: cpsat 2/2, qaoa-p2 1/2" in text


def test_report_of_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    from optimizer.runs.results import ResultsDatabaseError

    with pytest.raises(ResultsDatabaseError, match="no results database at"):
        write_report(tmp_path / "none.duckdb", tmp_path / "r.html")


def _bad_databases(folder: Path, good: Path) -> dict[str, Path]:
    """A database of each broken kind: random bytes, a truncated results database, an empty file, a
    DuckDB file of another program, a folder, no file."""
    import duckdb

    out = {}
    rng = np.random.default_rng(0)
    out["random"] = folder / "random.duckdb"
    out["random"].write_bytes(rng.bytes(40_000))
    out["truncated"] = folder / "truncated.duckdb"
    out["truncated"].write_bytes(good.read_bytes()[:5000])
    out["empty"] = folder / "empty.duckdb"
    out["empty"].write_bytes(b"")
    out["foreign"] = folder / "foreign.duckdb"
    con = duckdb.connect(str(out["foreign"]))
    con.execute("CREATE TABLE runs (id INTEGER, note VARCHAR)")
    con.close()
    out["other-tables"] = folder / "other.duckdb"
    con = duckdb.connect(str(out["other-tables"]))
    con.execute("CREATE TABLE sales (id INTEGER)")
    con.close()
    out["folder"] = folder / "folder.duckdb"
    out["folder"].mkdir()
    out["missing"] = folder / "missing.duckdb"
    return out


@pytest.mark.parametrize(("kind", "expected"), [
    ("random", "is not a readable DuckDB database"),
    ("truncated", "is not a readable DuckDB database"),
    ("empty", "is not a readable DuckDB database"),
    ("foreign", "is a DuckDB database but not cityopt's results (its table 'runs' lacks run_id"),
    ("other-tables", "is a DuckDB database but not cityopt's results (it holds 'sales' and no 'runs' table)"),
    ("folder", "is a folder, not a results database"),
    ("missing", "does not exist; it is not a results database"),
])
def test_report_of_a_broken_database_exits_2_in_one_line(report_db: tuple[Path, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str], kind: str,
                                                         expected: str) -> None:
    from optimizer.cli import main

    db = _bad_databases(tmp_path, report_db[0])[kind]
    before = db.read_bytes() if db.is_file() else None
    assert main(["report", str(db), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cityopt: error: "), err
    assert expected in err[0] and db.name in err[0], err[0]
    assert not (tmp_path / "r.html").exists()
    assert (db.read_bytes() if db.is_file() else None) == before  # left as it was


@pytest.mark.parametrize(("out", "expected"), [
    (".", "--out '.' is a folder; give the path of the HTML file to write"),
    ("afile/r.html", "--out 'afile/r.html' cannot be written ("),
    ("", "--out is empty"),
])
def test_report_to_a_bad_place_exits_2_before_reading_the_database(report_db: tuple[Path, Path], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch, out: str,
                                                                   expected: str) -> None:
    from optimizer.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a file, not a folder")
    assert main(["report", str(report_db[0]), "--out", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_report_into_a_new_folder_makes_it(report_db: tuple[Path, Path], tmp_path: Path) -> None:
    from optimizer.cli import main

    assert main(["report", str(report_db[0]), "--out", str(tmp_path / "a" / "b" / "r.html")]) == 0
    assert (tmp_path / "a" / "b" / "r.html").stat().st_size > 1000


# ---------------------------------------------------------------------------- a real browser
def _stop_group(proc: subprocess.Popen) -> None:
    """End Chromium and every process it started (renderer, GPU, crashpad), which share its session."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # children that outlived the browser process
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def chromium_profile():
    """A fresh ``--user-data-dir``, removed afterwards even while a dying child still writes into it."""
    profile = Path(tempfile.mkdtemp(prefix="chromium-"))
    try:
        yield profile
    finally:
        deadline = time.monotonic() + 10
        while True:
            shutil.rmtree(profile, ignore_errors=True)
            if not profile.exists() or time.monotonic() > deadline:
                break
            time.sleep(0.1)


def console_errors(exe: str, url: str, *, timeout_s: float = 60.0) -> list[str]:
    """Load ``url`` in headless Chromium; every console error, uncaught exception, failed load (DevTools protocol)."""
    return load_page(exe, url, timeout_s=timeout_s)[0]


def load_page(exe: str, url: str, *, expression: str | None = None, timeout_s: float = 60.0) -> tuple[list[str], Any]:
    """:func:`console_errors`, and the value of the JavaScript ``expression`` evaluated in the loaded page."""
    from tornado.websocket import websocket_connect

    with chromium_profile() as profile:
        log = open(profile / "chromium.log", "w")  # noqa: SIM115
        proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                 "--remote-allow-origins=*", "about:blank"], stdout=subprocess.DEVNULL, stderr=log,
                                start_new_session=True)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout_s
            while not (port_file.is_file() and port_file.read_text().strip()):
                assert proc.poll() is None, f"chromium exited with {proc.returncode}"
                assert time.monotonic() < deadline, "chromium opened no DevTools port"
                time.sleep(0.05)
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = json.load(r)
            ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")

            async def run() -> tuple[list[str], Any]:
                inbox: asyncio.Queue[str | None] = asyncio.Queue()
                # a callback, not read_message(): a read cancelled by a timeout could drop a message
                ws = await websocket_connect(ws_url, max_message_size=256 << 20, on_message_callback=inbox.put_nowait)
                errors: list[str] = []
                for i, method in enumerate(("Runtime.enable", "Log.enable", "Network.enable", "Page.enable"), 1):
                    ws.write_message(json.dumps({"id": i, "method": method}))
                ws.write_message(json.dumps({"id": 10, "method": "Page.navigate", "params": {"url": url}}))
                loaded_at = None
                end = time.monotonic() + timeout_s
                while time.monotonic() < end and (loaded_at is None or time.monotonic() < loaded_at + 1.5):
                    try:
                        msg = await asyncio.wait_for(inbox.get(), 0.25)
                    except TimeoutError:
                        continue
                    if msg is None:
                        break
                    m = json.loads(msg)
                    method, p = m.get("method"), m.get("params", {})
                    if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                        errors.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                              for a in p.get("args", [])))
                    elif method == "Runtime.exceptionThrown":
                        d = p.get("exceptionDetails", {})
                        errors.append("exception: " + str(d.get("exception", {}).get("description", d.get("text"))))
                    elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                        errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
                    elif method == "Network.loadingFailed":
                        errors.append(f"network: {p.get('errorText')} ({p.get('type')})")
                    elif method == "Page.loadEventFired":
                        loaded_at = time.monotonic()
                    elif m.get("id") == 10 and "error" in m:
                        errors.append(f"navigate: {m['error']}")
                value = None
                if expression is not None and loaded_at is not None:
                    ws.write_message(json.dumps({"id": 20, "method": "Runtime.evaluate",
                                                 "params": {"expression": expression, "returnByValue": True}}))
                    while time.monotonic() < end:
                        msg = await asyncio.wait_for(inbox.get(), timeout_s)
                        m = json.loads(msg) if msg else {}
                        if m.get("id") == 20:
                            value = m.get("result", {}).get("result", {}).get("value")
                            break
                ws.close()
                assert loaded_at is not None, "the page never fired its load event"
                return errors, value

            return asyncio.run(run())
        finally:
            _stop_group(proc)
            log.close()


def screenshot(exe: str, url: str, png: Path) -> np.ndarray:
    from PIL import Image

    with chromium_profile() as profile:
        proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                                 "--window-size=1280,2000", "--hide-scrollbars", url],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout=120)
        finally:
            _stop_group(proc)
        assert rc == 0, f"chromium --screenshot exited with {rc}"
    return np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)


def test_console_check_catches_errors(chromium: str, tmp_path: Path) -> None:
    """The check itself: a page with a console error, an exception and a missing image fails it."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><img src="missing.png">'
                   '<script>console.error("boom"); notAFunction();</script></body></html>')
    errors = console_errors(chromium, bad.as_uri())
    text = "\n".join(errors)
    assert "boom" in text and "notAFunction" in text and ("missing.png" in text or "ERR_FILE_NOT_FOUND" in text), text
    # and errors inside an iframe's srcdoc, where the report's maps live
    framed = tmp_path / "framed.html"
    framed.write_text('<!DOCTYPE html><html><body><iframe srcdoc="&lt;script&gt;console.error(&quot;inner boom&quot;);'
                      ' missingFn();&lt;/script&gt;"></iframe></body></html>')
    text = "\n".join(console_errors(chromium, framed.as_uri()))
    assert "inner boom" in text and "missingFn" in text, text


def test_report_loads_in_chromium_without_console_errors_and_shows_plots(
        chromium: str, report_db: tuple[Path, Path], tmp_path: Path) -> None:
    _, html_path = report_db
    # every interactive map drew its segments (SVG paths inside its iframe), with no console error
    errors, paths = load_page(chromium, html_path.as_uri(), expression=(
        "Array.from(document.querySelectorAll('iframe.route-map')).map(f => f.contentDocument ? "
        "f.contentDocument.querySelectorAll('path.leaflet-interactive').length : -1)"))
    assert errors == []
    assert len(paths) == 1 and paths[0] > 20, paths
    img = screenshot(chromium, html_path.as_uri(), tmp_path / "report.png")
    assert img.shape[0] >= 1900 and img.shape[1] >= 1200
    assert img.std() > 20, "the screenshot is blank"
    non_white = (img.sum(axis=2) < 740).mean()
    assert non_white > 0.05, f"only {non_white:.1%} of the screenshot is not white"
    # the objective bars (#9db8e8) and the segment-load colours of the map are on screen
    bars = (np.abs(img - np.array([0x9D, 0xB8, 0xE8])).sum(axis=2) < 30).sum()
    assert bars > 500, f"no objective bars in the screenshot ({bars} px)"
    keep = os.environ.get("CITYOPT_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(tmp_path / "report.png", keep)
