"""Running problems: scenarios (:mod:`~optimizer.runs.scenarios`), one scenario with several
solvers (:mod:`~optimizer.runs.runner`), batch jobs on Dask (:mod:`~optimizer.runs.jobs`, the job
file in :mod:`~optimizer.runs.job_file`) and the results database (:mod:`~optimizer.runs.results`)."""
