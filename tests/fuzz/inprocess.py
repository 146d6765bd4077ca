"""Run one fuzz case in this process: ``optimizer.cli.main(argv)`` in its sandbox, under a time guard.

For the pytest suite: much faster than a subprocess per case (imports and the
bundled city are loaded once).  Outcomes are the same :class:`Outcome` the
subprocess runner gives, so :func:`tests.fuzz.classify.classify` sorts both.

Guards:

* a case that runs past ``timeout_s`` is stopped by ``SIGALRM`` (a hang);
* no network: the test session's guard (tests/conftest.py) refuses it, and
  attempts are recorded here;
* a bad job must be refused before Dask starts: starting a ``LocalCluster``
  raises (and so fails the case) instead of starting worker processes here.
"""

from __future__ import annotations

import io
import logging
import signal
import socket
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.fuzz.cases import Case
from tests.fuzz.classify import Outcome
from tests.fuzz.sandbox import Sandbox

__all__ = ["CaseTimeout", "run_inprocess"]

#: The standard library's warning printer (to stderr), whatever pytest installs over it.
_SHOW_WARNING = warnings._showwarning_orig  # type: ignore[attr-defined]


class CaseTimeout(BaseException):  # noqa: N818 - a BaseException so `except Exception` in the product cannot eat it
    """The case ran past its time limit."""


class DaskStarted(BaseException):  # noqa: N818
    """A batch case got past the job check to the point of starting a Dask cluster."""


@contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def fire(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@contextmanager
def _log_to_stderr() -> Iterator[None]:
    """Log records print to stderr in the CLI's format, as they do for a user (under pytest,
    ``logging.basicConfig`` in ``cli.main`` does nothing: pytest's handlers are already there)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _record_network(monkeypatch: pytest.MonkeyPatch, seen: list[str]) -> None:
    """Record every non-local connection or lookup (the session's guard still refuses them)."""
    inner_gai, inner_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return inner_gai(host, *args, **kwargs)
        except OSError:
            seen.append(str(host))
            raise

    def connect(self: socket.socket, address: Any) -> Any:
        try:
            return inner_connect(self, address)
        except OSError as exc:
            if "network" in str(exc):
                seen.append(str(address))
            raise

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


def _forget_city_files(case: Case) -> None:
    """Empty the per-process city cache before a case that loads a city file.

    ``load_city`` keeps a city by the spec as given, and every case names its
    own file ``map.osm`` in its own folder: the previous case's map must not
    be reused.  (The bundled Helsinki stays cached between the other cases.)
    """
    argv = list(case.argv)
    if any(a == "--city" and i + 1 < len(argv) and argv[i + 1].lower() != "helsinki" for i, a in enumerate(argv)):
        from optimizer.runs import scenarios

        clear = getattr(getattr(scenarios, "load_city", None), "cache_clear", None)
        if clear is not None:
            clear()


def run_inprocess(case: Case, sb: Sandbox, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
                  *, timeout_s: int = 30) -> Outcome:
    """Run ``case`` through ``optimizer.cli.main`` with the working folder ``sb.work``; what it did."""
    from optimizer.cli import main

    for d in (sb.home, sb.tmp, sb.cache, sb.work):
        d.mkdir(parents=True, exist_ok=True)
    before = sb.prepare(case)
    monkeypatch.chdir(sb.work)
    monkeypatch.setenv("HOME", str(sb.home))
    monkeypatch.setenv("TMPDIR", str(sb.tmp))
    monkeypatch.syspath_prepend(str(sb.work))  # as `python -m optimizer.cli` run in that folder has it
    seen: list[str] = []
    _record_network(monkeypatch, seen)
    if not case.succeed:
        import distributed

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise DaskStarted("the job passed its check and started a Dask cluster: it was not refused up front")

        monkeypatch.setattr(distributed.LocalCluster, "__init__", refuse)
    _forget_city_files(case)
    capfd.readouterr()
    extra_err = io.StringIO()
    timed_out = False
    rc: int | None = None
    t0 = time.monotonic()
    modules = set(sys.modules)
    try:
        with _alarm(timeout_s), warnings.catch_warnings(), _log_to_stderr():
            # warnings print to stderr as they do for a user (pytest would otherwise record them)
            warnings.simplefilter("default")
            warnings.showwarning = _SHOW_WARNING
            rc = main(case.argv_for(sb.guard))
    except SystemExit as exc:  # argparse
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except CaseTimeout:
        timed_out = True
    except DaskStarted as exc:
        rc = 0
        extra_err.write(f"[fuzz] {exc}\n")
    except BaseException:  # noqa: BLE001 - what escapes main is the finding
        rc = 1
        extra_err.write(traceback.format_exc())
    seconds = time.monotonic() - t0
    for name in set(sys.modules) - modules:  # a grid file's `_module` may have imported a case's module
        if name == "fuzz_side_effect":
            del sys.modules[name]
    out, err = capfd.readouterr()
    written, outside_out, escaped = sb.written(before)
    return Outcome(rc=rc, stdout=out, stderr=err + extra_err.getvalue(), timed_out=timed_out, written=written,
                   outside_out=outside_out, escaped=escaped, network=seen, seconds=seconds)
