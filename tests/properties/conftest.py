"""Hypothesis settings of the property tests.

Two profiles, chosen by the environment variable ``CITYOPT_HYPOTHESIS_PROFILE``:

* ``ci`` (the default, when unset): 30 examples a test, derandomized (the same examples on
  every run, so CI is reproducible), no per-example deadline, no example database.
* ``thorough``: 500 random examples a test, for a deliberate hunt
  (``CITYOPT_HYPOTHESIS_PROFILE=thorough pytest tests/properties``).

The project's autouse fixture (``tests/conftest.py``: own cache folder, no network)
is function-scoped; it holds nothing an example could leak into the next one, so
that health check is off.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture],
           "print_blob": True}

settings.register_profile("ci", max_examples=30, derandomize=True, database=None, **_COMMON)
settings.register_profile("thorough", max_examples=500, **_COMMON)
settings.load_profile(os.environ.get("CITYOPT_HYPOTHESIS_PROFILE", "ci"))
