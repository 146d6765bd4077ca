"""Errors shared by every part of cityopt.

Each error also inherits the builtin it refines, so ``except ValueError`` keeps
working for callers who do not know cityopt's classes.  ``optimizer`` re-exports
these and adds its domain errors in ``optimizer/errors.py``.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "CityoptError",
    "InvalidInputError",
    "InvalidOptionError",
    "ProblemTooLargeError",
    "SolverError",
    "UnknownSolverError",
]


class CityoptError(Exception):
    """Base class of every error cityopt raises on purpose."""


class InvalidInputError(CityoptError, ValueError):
    """A value given by the user is out of range or malformed."""


class InvalidOptionError(InvalidInputError):
    """A solver option is unknown or out of range."""


class UnknownSolverError(InvalidInputError):
    """No solver or backend is registered under that name."""


class ProblemTooLargeError(InvalidInputError):
    """The problem has more variables than the chosen solver can take."""


class BackendUnavailableError(CityoptError, ImportError):
    """A solver backend needs something this machine does not have."""


class SolverError(CityoptError, RuntimeError):
    """A solver failed while running (not the user's input)."""
