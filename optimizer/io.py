"""Atomic output writing: a reader never sees a half-written file or run folder."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from solvers.errors import InvalidInputError

__all__ = [
    "UnsafePathError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_name",
    "confined",
    "instance_folder",
    "json_default",
    "probe_writable",
    "run_folder",
    "slug",
    "staged_dir",
]

#: A name that may become one path component: starts with a letter or digit, then
#: letters, digits, ``.``, ``_``, ``+``, ``-``; at most 100 characters.  So no
#: ``/``, no ``..``, no leading dot (hidden or staging folders), nothing absolute.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")

#: The file whose presence marks a folder as a run folder cityopt wrote: the only
#: kind of existing folder :func:`staged_dir` will replace.
RUN_MARKER = "summary.json"


class UnsafePathError(InvalidInputError):
    """A name would make a path outside its root, or a write would replace what cityopt did not write.

    An ``InvalidInputError``: the CLI exits 2 with the message.
    """


def check_name(name: Any, *, field: str) -> str:
    """``name`` if it is safe as one folder name (:data:`NAME_PATTERN`), else UnsafePathError naming ``field``.

    For names a user chooses (a solver's ``label``): refused, not rewritten, so
    the folder is where the user expects it.

    >>> check_name("qaoa-p2", field="label")
    'qaoa-p2'
    >>> check_name("../x", field="scenarios[0].solvers[1].label")
    Traceback (most recent call last):
    ...
    optimizer.io.UnsafePathError: scenarios[0].solvers[1].label: '../x' cannot be a folder name; use letters, digits, '.', '_', '+', '-' (at most 100, starting with a letter or digit), e.g. 'qaoa-p2'
    """
    if isinstance(name, str) and NAME_PATTERN.fullmatch(name):
        return name
    msg = (f"{field}: {name!r} cannot be a folder name; use letters, digits, '.', '_', '+', '-' "
           f"(at most 100, starting with a letter or digit), e.g. 'qaoa-p2'")
    raise UnsafePathError(msg)


def slug(text: Any, *, default: str = "unnamed") -> str:
    """A safe folder name made from ``text`` (a name read from a data file): other characters become ``-``.

    >>> slug("A-n32-k5"), slug("../../etc/x"), slug("/abs/p"), slug(".."), slug("")
    ('A-n32-k5', 'etc-x', 'abs-p', 'unnamed', 'unnamed')
    """
    s = re.sub(r"[^A-Za-z0-9._+-]+", "-", str(text)).strip("-._")
    s = re.sub(r"-{2,}", "-", s)[:100].rstrip("-._")
    return s if s and NAME_PATTERN.fullmatch(s) else default


def probe_writable(path: str | os.PathLike[str]) -> None:
    """Raise OSError unless a file can be made in ``path`` or, where it does not exist yet, in its
    nearest existing folder; creates nothing (a temp file is made and removed).

    A real write, not ``os.access``: that misses read-only mounts, full disks and ``/proc``.
    Callers turn the OSError into their own one-line error naming the field.
    """
    folder = Path(path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(folder))
    fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
    os.close(fd)
    os.unlink(probe)


def confined(root: str | os.PathLike[str], *parts: str) -> Path:
    """``root / parts...``, refused (UnsafePathError) unless it resolves inside ``root``.

    >>> confined("/tmp/out", "traffic", "x").as_posix()
    '/tmp/out/traffic/x'
    >>> confined("/tmp/out", "..", "etc")
    Traceback (most recent call last):
    ...
    optimizer.io.UnsafePathError: path '/tmp/out/../etc' would be outside the output folder '/tmp/out'; name the run with a plain folder name
    """
    base = Path(root)
    path = base.joinpath(*parts)
    r, p = base.resolve(), path.resolve()
    if p != r and r not in p.parents:
        msg = (f"path {path.as_posix()!r} would be outside the output folder {base.as_posix()!r}; "
               f"name the run with a plain folder name")
        raise UnsafePathError(msg)
    return path


def run_folder(root: str | os.PathLike[str], kind: str, instance: str, label: str) -> Path:
    """The folder of one run, ``root/kind/instance/label``: every part one safe name, inside ``root``.

    ``instance`` comes from data (a file's ``NAME``) and is slugged; ``kind`` and
    ``label`` must already be safe (:func:`check_name`).
    """
    return confined(instance_folder(root, kind, instance), check_name(label, field="label"))


def instance_folder(root: str | os.PathLike[str], kind: str, instance: str) -> Path:
    """The folder of one instance's runs and comparison, ``root/kind/slug(instance)``, inside ``root``."""
    return confined(root, check_name(kind, field="problem"), slug(instance))


def json_default(o: Any) -> Any:
    """JSON encoder for numpy scalars/arrays, paths and enums."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not math.isfinite(float(o)) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "value"):
        return o.value
    msg = f"cannot write {type(o).__name__} to JSON"
    raise TypeError(msg)


def _clean(o: Any) -> Any:
    """Replace non-finite floats by None (JSON has no NaN)."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to a temp file beside ``path``, fsync, then rename over it."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` (a binary file: Parquet, gzip) to a temp file beside ``path``, fsync, then rename over it.

    >>> import tempfile, pathlib
    >>> p = atomic_write_bytes(pathlib.Path(tempfile.mkdtemp()) / "x.bin", b"\\x00\\x01")
    >>> p.read_bytes()
    b'\\x00\\x01'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Atomically write ``data`` as indented JSON (NaN/inf written as null)."""
    text = json.dumps(_clean(data), indent=2, default=json_default, allow_nan=False)
    return atomic_write_text(path, text + "\n")


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike[str], *, marker: str = RUN_MARKER) -> Iterator[Path]:
    """Build a folder in a temp sibling; on success it replaces ``final`` whole.

    On an exception the temp folder is removed and ``final`` is left as it was.
    An existing ``final`` is replaced only if it is a folder holding ``marker``
    (a run folder cityopt wrote); anything else there (a file, a user's folder)
    raises UnsafePathError before any work, and is left untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with staged_dir(root / "run") as d:
    ...     _ = (d / "a.txt").write_text("hi")
    >>> (root / "run" / "a.txt").read_text()
    'hi'
    """
    final = Path(final)
    _check_replaceable(final, marker)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    _check_replaceable(final, marker)
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_replaceable(final: Path, marker: str) -> None:
    if final.is_symlink() or (final.exists() and not (final.is_dir() and (final / marker).is_file())):
        msg = (f"{final.as_posix()!r} exists and is not a run folder cityopt wrote (no {marker}); "
               f"it is left as it is: move it away or choose another output folder or label")
        raise UnsafePathError(msg)
