"""Street sensors: readings, where they sit on the road graph, forecasts, demand fitted to counts.

The smart-city loop's inputs.  Detector readings are one long table
(``time, sensor_id, flow_vph, speed_kph, occupancy_pct, quality``) beside a
sensors table (``sensor_id, lon, lat`` and ``bearing_deg`` or an OSM way id);
this package reads them (our own format and public ones), snaps sensors to the
road graph, simulates a stream from SUMO, forecasts flow and speed, and fits
origin-destination demand to the counts.  It sits above the problems and the
solvers it may call, below the runs that use it (the live loop).
"""
