"""What cityopt reads: road graphs (:mod:`~optimizer.inputs.city`, from OSM through
:mod:`~optimizer.inputs.osm` and :mod:`~optimizer.inputs.normalize`), their arithmetic
(:mod:`~optimizer.inputs.roads`), travel demand (:mod:`~optimizer.inputs.demand`),
literature routing instances (:mod:`~optimizer.inputs.instances`), power grids
(:mod:`~optimizer.inputs.grid`; a city's own, built from its OSM roads and buildings, by
:mod:`~optimizer.inputs.city_grid`) and their day profiles (:mod:`~optimizer.inputs.profiles`).

The bottom layer of :mod:`optimizer`: it imports nothing above it.
"""
