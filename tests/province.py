"""A generated province loaded through the upload path, for tests (``gis.demo``).

``province`` is a session fixture giving a function ``make(grids, seed)``: the first call for
a size and seed generates the files (``gridmap demo province``) into the session's temporary
folder and loads them (``gis.demo.province_load``, every file a committed upload) into a
throw-away database of their own — no demo city in it; later calls in the session return the
same.  Tests must only read it (write into a copy: ``create_database(url, template=…)``).
All its databases are dropped at the end of the session.  Use it in a test module with
``from province import province  # noqa: F401`` and a ``province`` argument.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gis.demo.province_files import generate
from gis.demo.province_load import Loaded, load_province
from gis.settings import Settings
from gis.store.db import create_database, drop_database, make_engine, migrate

from support import url_of

CI_GRIDS = 20_000
"""The province size tests use: 4 counties, 40 streets, 1 000 communities, 200 000 addresses."""
SEED = 16


@dataclass(frozen=True)
class Province:
    """A loaded province: its database, its files and what loading them took."""

    url: str
    directory: Path
    grids: int
    seed: int
    loaded: list[Loaded]
    generate_s: float
    load_s: float


@pytest.fixture(scope="session")
def province(
    server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Province]]:
    """``make(grids=CI_GRIDS, seed=SEED)``: a province of that size, generated and loaded
    once per session."""
    made: dict[tuple[int, int], Province] = {}
    urls: list[str] = []

    def make(grids: int = CI_GRIDS, seed: int = SEED) -> Province:
        if (grids, seed) not in made:
            directory = tmp_path_factory.mktemp(f"province-{grids}-{seed}")
            started = time.perf_counter()
            generate(grids, seed, directory, progress=lambda _: None)
            generated = time.perf_counter() - started
            name = f"gridmap_province_{grids}_{seed}_{uuid.uuid4().hex[:6]}"
            url = url_of(server_url, name)
            create_database(url)
            urls.append(url)  # dropped at the end even if loading fails
            made[grids, seed] = _load(url, directory, grids, seed, generated)
        return made[grids, seed]

    def _load(url: str, directory: Path, grids: int, seed: int, generated: float) -> Province:
        migrate(url)
        engine = make_engine(url)
        started = time.perf_counter()
        try:
            loaded = load_province(engine, directory, Settings(), progress=lambda _: None)
        finally:
            engine.dispose()
        return Province(
            url, directory, grids, seed, loaded, generated, time.perf_counter() - started
        )

    yield make
    for url in urls:
        drop_database(url)
