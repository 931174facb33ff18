"""Where would the next centres help most: maximal covering location (MCLP).

Given demand points with weights (households), the points the existing facilities already
cover, and candidate sites with the demand points each would cover, choose ``k`` sites that
cover the most weight not yet covered — an integer programme solved by CBC (cbcbox, via pulp)
within a time bound.  Existing facilities stay fixed: only their uncovered demand counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cbcbox
import numpy as np
import pulp

from gis.errors import InvalidInput, TooLarge


@dataclass(frozen=True)
class Siting:
    """The chosen candidate sites and the weight they add.

    ``optimal`` is False when the time bound stopped the solver with a good but unproven
    choice.
    """

    sites: list[int]
    covered_before: float
    gained: float
    optimal: bool
    runtime_s: float


def maximal_covering(
    weights: np.ndarray,
    covered: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray],
    n_sites: int,
    k: int,
    *,
    time_limit_s: float,
    max_pairs: int,
) -> Siting:
    """Choose ``k`` of ``n_sites`` candidates to cover the most uncovered weight.

    ``covered`` marks demand the existing facilities reach; ``pairs`` = (demand index,
    site index) for every demand point a candidate would reach.  Raises ``TooLarge``
    (``siting_too_large``) beyond ``max_pairs`` useful pairs and ``InvalidInput``
    (``siting_time_limit``) if the solver finds no answer in time.
    """
    started = time.perf_counter()
    weights = np.asarray(weights, dtype=float)
    covered = np.asarray(covered, dtype=bool)
    demand, site = (np.asarray(a, dtype=np.int64) for a in pairs)
    if k < 1 or k > n_sites:
        raise InvalidInput(
            f"k 应在 1 到候选点数 {n_sites} 之间: {k} (k must be between 1 and the number "
            "of candidate sites)",
            code="invalid_k",
            details={"k": k, "candidates": n_sites},
        )
    useful = ~covered[demand] & (weights[demand] > 0)
    demand, site = demand[useful], site[useful]
    if len(demand) > max_pairs:
        raise TooLarge(
            f"选址问题过大: {len(demand)} 个需求-候选配对，上限 {max_pairs} (too large: fewer "
            "candidates, a smaller region or a smaller radius)",
            code="siting_too_large",
            details={"pairs": len(demand), "max_pairs": max_pairs},
        )
    before = float(weights[covered].sum())
    if len(demand) == 0:  # nothing left to gain: any k sites do
        return Siting(list(range(k)), before, 0.0, True, time.perf_counter() - started)

    points = np.unique(demand)
    sites = np.unique(site)
    problem = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = {int(j): problem.add_variable(f"x{j}", cat="Binary") for j in sites}
    y = {int(i): problem.add_variable(f"y{i}", 0, 1) for i in points}
    problem += pulp.lpSum(float(weights[i]) * y[i] for i in y)
    order = np.argsort(demand, kind="stable")
    by_demand, sites_of = demand[order], site[order].tolist()
    starts = np.searchsorted(by_demand, points).tolist()
    ends = np.searchsorted(by_demand, points, side="right").tolist()
    for i, a, b in zip(points.tolist(), starts, ends, strict=True):
        problem += y[i] <= pulp.lpSum(x[j] for j in sites_of[a:b])
    problem += pulp.lpSum(x.values()) <= k
    solver = pulp.COIN_CMD(
        path=cbcbox.cbc_bin_path(), msg=False, timeLimit=max(1, round(time_limit_s))
    )
    status = problem.solve(solver)
    chosen = [j for j, var in x.items() if (var.value() or 0) > 0.5]
    if pulp.LpStatus[status] != "Optimal" and not chosen:
        raise InvalidInput(
            f"{time_limit_s:g} 秒内未找到选址方案 (no siting found within the time bound; "
            "try fewer candidates or a smaller region)",
            code="siting_time_limit",
            details={"time_limit_s": time_limit_s},
        )
    # fill up to k with sites that add nothing (when fewer are useful than asked for)
    spare = [j for j in range(n_sites) if j not in set(chosen)]
    chosen = sorted(chosen + spare[: max(0, k - len(chosen))])
    reached = np.zeros(len(weights), dtype=bool)
    reached[demand[np.isin(site, chosen)]] = True
    return Siting(
        sites=chosen,
        covered_before=before,
        gained=float(weights[reached].sum()),
        optimal=problem.sol_status == pulp.LpSolutionOptimal,
        runtime_s=time.perf_counter() - started,
    )
