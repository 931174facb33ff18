"""Maximal covering siting, checked against PySAL spopt's MCLP on the same problem."""

from __future__ import annotations

import cbcbox
import numpy as np
import pulp
import pytest
from pyproj import Geod
from spopt.locate import MCLP

from gis.analysis.siting import maximal_covering
from gis.errors import InvalidInput, TooLarge

GEOD = Geod(ellps="WGS84")
RADIUS = 400.0


def _distances(px: np.ndarray, py: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """Geodesic metres from every point to every facility (a plain cost matrix)."""
    rows = len(px)
    _, _, metres = GEOD.inv(
        np.repeat(px, len(fx)), np.repeat(py, len(fy)), np.tile(fx, rows), np.tile(fy, rows)
    )
    return metres.reshape(rows, len(fx))


@pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")  # spopt's
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gain_equals_spopt_mclp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    px, py = rng.uniform(118.30, 118.34, 300), rng.uniform(40.14, 40.17, 300)
    weights = rng.integers(10, 200, 300).astype(float)
    ex, ey = rng.uniform(118.30, 118.34, 3), rng.uniform(40.14, 40.17, 3)
    cx, cy = rng.uniform(118.30, 118.34, 40), rng.uniform(40.14, 40.17, 40)
    k = 3

    covered = (_distances(px, py, ex, ey) <= RADIUS).any(axis=1)
    reach = _distances(px, py, cx, cy) <= RADIUS
    demand, site = np.nonzero(reach)
    ours = maximal_covering(
        weights, covered, (demand, site), len(cx), k, time_limit_s=30, max_pairs=10**6
    )
    assert len(ours.sites) == k and ours.optimal
    assert ours.covered_before == weights[covered].sum()
    newly = reach[:, ours.sites].any(axis=1) & ~covered
    assert ours.gained == weights[newly].sum(), "the reported gain is what the sites cover"

    # spopt: existing facilities predefined, p = existing + k; objective = all covered weight
    cost = np.hstack([_distances(px, py, ex, ey), _distances(px, py, cx, cy)])
    predefined = np.r_[np.ones(3, dtype=int), np.zeros(len(cx), dtype=int)]
    oracle = MCLP.from_cost_matrix(cost, weights, RADIUS, 3 + k, predefined).solve(
        pulp.COIN_CMD(path=cbcbox.cbc_bin_path(), msg=False)
    )
    assert ours.covered_before + ours.gained == pytest.approx(oracle.problem.objective.value())
    assert ours.gained > 0


def test_limits_and_bad_k() -> None:
    weights = np.ones(4)
    covered = np.zeros(4, dtype=bool)
    pairs = (np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1]))
    with pytest.raises(TooLarge) as too_large:
        maximal_covering(weights, covered, pairs, 2, 1, time_limit_s=5, max_pairs=3)
    assert too_large.value.code == "siting_too_large"
    for k in (0, 3):
        with pytest.raises(InvalidInput) as bad:
            maximal_covering(weights, covered, pairs, 2, k, time_limit_s=5, max_pairs=10)
        assert bad.value.code == "invalid_k"
    everything = maximal_covering(
        weights, np.ones(4, dtype=bool), pairs, 2, 1, time_limit_s=5, max_pairs=10
    )
    assert (everything.gained, everything.covered_before, len(everything.sites)) == (0, 4, 1)
