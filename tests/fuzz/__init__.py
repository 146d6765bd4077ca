"""The fuzz suite: bad inputs by category, each of which must be refused with one clear line.

- :mod:`tests.fuzz.cases`: the catalogue (command lines and the files they read);
- :mod:`tests.fuzz.classify`: an outcome's category (clean, weak, traceback, partial,
  silently accepted; "refused" for a valid input refused);
- :mod:`tests.fuzz.sandbox`: each case's watched folders, and running it as a subprocess
  with no network;
- :mod:`tests.fuzz.inprocess`: running it through ``optimizer.cli.main`` (the pytest suite);
- :mod:`tests.fuzz.survey`: the whole catalogue, counted: ``python -m tests.fuzz.survey --jobs 2
  --json outputs/fuzz.json --status outputs/fuzz.md``, against this checkout or another
  (``--pythonpath``);
- ``test_fuzz_cli.py``: every case asserted clean (a fast subset per category by default).

``before-402debe.json`` holds the survey of commit 402debe (the issue's "before").
"""
