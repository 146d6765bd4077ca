"""The solver-comparison report: one self-contained HTML file (:mod:`~optimizer.report.html`)
with its matplotlib figures (:mod:`~optimizer.report.charts`) and offline maps (:mod:`optimizer.maps`)."""
