"""Scaling of stage 1: time and peak memory of tssem1 (REM Diag, FEM) against k studies and p variables.

Simulated data, seeded (one numpy Generator per grid cell, derived from SEED, k and p):

- Population: a one-factor model with loadings evenly spaced on [0.4, 0.8], so every
  correlation is lambda_a * lambda_b (0.16 to 0.64).
- Heterogeneity: each study has its own loadings, lambda + N(0, 0.05^2) clipped to [0.2, 0.9];
  its true matrix is the one-factor matrix of those loadings (a valid correlation matrix).
- Sample: n_i = round(exp(N(log 150, 0.5^2))), at least 30; the study's correlation matrix is
  computed from n_i draws of N(0, R_i) (positive definite by construction).
- Missing: each study drops whole variables (as real studies do: they measured a subset),
  m_i of p variables kept, with m_i one of two adjacent whole numbers mixed so that the expected
  share of missing correlations is exactly 30%, m(m - 1) / (p (p - 1)) averaged = 0.7. Which
  variables go is random; a study whose subset leaves a pair uncovered by every study is redrawn.
  The realised share is written to the results (column ``missing_share``).

Each cell is timed as the best of up to 3 fits after a warm-up fit (perf_counter, wall clock, one
BLAS thread). Its peak memory is measured in a separate fit with tracemalloc: the peak of the memory
allocated during that fit, numpy's arrays included (numpy reports its buffers to tracemalloc). The
process's high-water mark (getrusage ru_maxrss, which includes the interpreter and libraries and
never goes down) is recorded as well, as an upper bound. Then the growth exponents are fitted on
the log-log scale (statsmodels OLS) and the figure is drawn. See benchmarks/README.md.

Writes results/scaling.csv, results/scaling_exponents.csv and results/scaling.png (with ``--quick``:
the same names ending in ``_quick``, leaving the full results alone).
"""

from __future__ import annotations

import os

# Before numpy is imported: one BLAS thread, as in every other benchmark.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # headless: make bench runs on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import statsmodels.formula.api as smf  # noqa: E402

from masem.tssem.stage1 import tssem1  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 20110601
MISSING_SHARE = 0.30
FULL_K = (25, 50, 100, 200, 400, 800)
FULL_P = (4, 8, 12, 16, 20)
QUICK_K = (25, 50, 100)
QUICK_P = (4, 8, 12)
METHODS = ("REM", "FEM")
MAX_RUNS = 3  # timed runs per grid cell at most ...
BUDGET_S = 2.0  # ... stopping once they took this long together
# The exponent in k is fitted where the per-study work dominates the fixed set-up cost, and the
# exponent in p where the q x q algebra does; below these the curves are flat (overhead).
FIT_MIN_K = 100
FIT_MIN_P = 8
TARGET = {"p": 20, "k": 800, "method": "REM", "seconds": 60.0, "peak_mb": 2048.0}


def simulate(k: int, p: int, seed: int = SEED) -> tuple[list[np.ndarray], np.ndarray]:
    """k correlation matrices of p variables with 30% of the correlations missing, and their n.

    See the module docstring for the design. Deterministic in (k, p, seed).
    """
    rng = np.random.default_rng([seed, k, p])
    loadings = np.linspace(0.4, 0.8, p)
    n = np.maximum(np.round(np.exp(rng.normal(np.log(150.0), 0.5, size=k))), 30).astype(int)
    kept = _kept_variables(rng, k, p)
    matrices = []
    for i in range(k):
        lam = np.clip(loadings + rng.normal(0.0, 0.05, size=p), 0.2, 0.9)
        truth = np.outer(lam, lam)
        np.fill_diagonal(truth, 1.0)
        sample = rng.multivariate_normal(np.zeros(p), truth, size=n[i], method="cholesky")
        r = np.corrcoef(sample, rowvar=False)
        drop = ~kept[i]
        r[drop, :] = np.nan
        r[:, drop] = np.nan
        matrices.append(r)
    return matrices, n


def _kept_variables(rng: np.random.Generator, k: int, p: int) -> np.ndarray:
    """(k, p) bool: which variables each study measured; every pair measured together somewhere."""
    target = (1.0 - MISSING_SHARE) * p * (p - 1)
    m_low = max(2, int(np.floor((1.0 + np.sqrt(1.0 + 4.0 * target)) / 2.0)))
    m_high = min(p, m_low + 1)
    share = lambda m: m * (m - 1) / (p * (p - 1))  # noqa: E731
    # Mix m_low and m_high so that the expected share of observed correlations is 0.7.
    w_low = 1.0 if m_high == m_low else (share(m_high) - 0.7) / (share(m_high) - share(m_low))
    sizes = np.where(rng.random(k) < w_low, m_low, m_high)
    kept = np.zeros((k, p), dtype=bool)
    for i, m in enumerate(sizes):
        kept[i, rng.choice(p, size=m, replace=False)] = True
    for _ in range(100):
        together = kept.T.astype(int) @ kept.astype(int)
        a, b = np.nonzero(together == 0)
        if a.size == 0:
            return kept
        i = rng.integers(k)  # give a random study the uncovered pair, keeping its size
        others = np.flatnonzero(kept[i] & (np.arange(p) != a[0]) & (np.arange(p) != b[0]))
        kept[i] = False
        kept[i, [a[0], b[0]]] = True
        kept[i, rng.choice(others, size=max(sizes[i] - 2, 0), replace=False)] = True
    raise RuntimeError(f"could not cover every pair of {p} variables with {k} studies")


def missing_share(matrices: list[np.ndarray]) -> float:
    rows, cols = np.tril_indices(matrices[0].shape[0], k=-1)
    return float(np.mean([np.isnan(m[rows, cols]).mean() for m in matrices]))


def measure(matrices: list[np.ndarray], n: np.ndarray, method: str) -> dict:
    """Best wall time of up to MAX_RUNS fits after a warm-up fit, and the peak memory of one more.

    Timed runs stop once they took BUDGET_S together (at least one). The memory run is separate
    because tracemalloc slows every allocation down.
    """
    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a tau2 on its bound is expected in simulated data
            return tssem1(matrices, n, method=method)

    result = fit()
    times: list[float] = []
    while not times or (len(times) < MAX_RUNS and sum(times) < BUDGET_S):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    fit()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "seconds": min(times),
        "runs": len(times),
        "peak_mb": peak / 2**20,
        "process_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10,
        "iterations": result.iterations,
        "converged": result.converged,
    }


def run_grid(ks: tuple[int, ...], ps: tuple[int, ...], verbose: bool = True) -> pd.DataFrame:
    rows = []
    for p in ps:
        for k in ks:
            matrices, n = simulate(k, p)
            share = missing_share(matrices)
            for method in METHODS:
                row = {"method": method, "p": p, "k": k, "q": p * (p - 1) // 2, "missing_share": share}
                row.update(measure(matrices, n, method))
                rows.append(row)
                if verbose:
                    print(
                        f"  {method} p={p:2d} k={k:4d}: {row['seconds']:8.3f} s, "
                        f"peak {row['peak_mb']:7.1f} MB, {row['iterations']} iterations",
                        flush=True,
                    )
    return pd.DataFrame(rows)


def growth_exponents(table: pd.DataFrame, min_k: int = FIT_MIN_K, min_p: int = FIT_MIN_P) -> pd.DataFrame:
    """Growth exponents: slopes of log(time) on log(k) and on log(p), by OLS (statsmodels).

    Per method: the joint fit log t = a + b log k + c log p over the cells with k >= min_k and
    p >= min_p (where the algebra, not the fixed set-up, dominates), then the slope in k at each
    p (k >= min_k) and the slope in p at each k (p >= min_p), each with its standard error and
    number of points.
    """
    rows = []
    for method, sub in table.groupby("method", sort=False):
        data = sub.assign(log_t=np.log(sub["seconds"]), log_k=np.log(sub["k"]), log_p=np.log(sub["p"]))
        large = data[(data["k"] >= min_k) & (data["p"] >= min_p)]
        if len(large) > 3:
            joint = smf.ols("log_t ~ log_k + log_p", data=large).fit()
            where = f"k>={min_k}, p>={min_p}"
            for var in ("k", "p"):
                rows.append(_row(method, var, where, joint, f"log_{var}"))
        for p, grp in data[data["k"] >= min_k].groupby("p"):
            if len(grp) > 2:
                rows.append(_row(method, "k", f"p={p}", smf.ols("log_t ~ log_k", data=grp).fit(), "log_k"))
        for k, grp in data[data["p"] >= min_p].groupby("k"):
            if len(grp) > 2:
                rows.append(_row(method, "p", f"k={k}", smf.ols("log_t ~ log_p", data=grp).fit(), "log_p"))
    return pd.DataFrame(rows, columns=["method", "in", "at", "exponent", "se", "points"])


def _row(method: str, var: str, where: str, fit, term: str) -> dict:
    return {
        "method": method, "in": var, "at": where,
        "exponent": float(fit.params[term]), "se": float(fit.bse[term]), "points": int(fit.nobs),
    }


def plot(table: pd.DataFrame, path: Path) -> None:
    """2 x 2 log-log panels: time against k (one line per p) and against p (one line per k), by method."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5), sharey="row")
    for col, method in enumerate(METHODS):
        sub = table[table["method"] == method]
        name = f"tssem1 {method}" + (" (Diag)" if method == "REM" else "")
        panels = ((axes[0, col], "k", "p", "variables"), (axes[1, col], "p", "k", "studies"))
        for ax, x, lines, label in panels:
            for value, grp in sub.groupby(lines):
                ax.plot(grp[x], grp["seconds"], marker="o", label=f"{lines} = {value}")
            ax.set(xscale="log", yscale="log", ylabel="wall time per fit (s, log scale)",
                   xlabel=("studies k" if x == "k" else "variables p") + " (log scale)",
                   title=f"{name}: time against {x}")
            ax.set_xticks(sorted(sub[x].unique()))
            ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(title=label, fontsize=8, loc="upper left" if x == "k" else "lower right")
    target = table[(table["method"] == "REM") & (table["p"] == TARGET["p"]) & (table["k"] == TARGET["k"])]
    if not target.empty:
        ax = axes[0, 0]
        ax.axhline(TARGET["seconds"], color="grey", linestyle="--", linewidth=1)
        ax.text(table["k"].max(), TARGET["seconds"] * 0.75, "target for p = 20, k = 800: 60 s",
                fontsize=8, color="grey", va="top", ha="right")
    fig.suptitle(f"Stage-1 scaling on simulated data ({MISSING_SHARE:.0%} of correlations missing; "
                 "best wall time of up to 3 fits, one thread)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"reduced grid k in {QUICK_K}, p in {QUICK_P} (seconds instead of minutes)")
    args = parser.parse_args(argv)
    ks, ps = (QUICK_K, QUICK_P) if args.quick else (FULL_K, FULL_P)
    suffix = "_quick" if args.quick else ""  # a quick run leaves the full results alone
    RESULTS.mkdir(parents=True, exist_ok=True)
    print(f"scaling grid: k in {ks}, p in {ps}, methods {METHODS}")
    started = time.perf_counter()
    table = run_grid(ks, ps)
    table.to_csv(RESULTS / f"scaling{suffix}.csv", index=False, float_format="%.6g")
    # The quick grid is too small to leave out the overhead-dominated cells.
    exponents = growth_exponents(table) if not args.quick else growth_exponents(table, min(ks), min(ps))
    exponents.to_csv(RESULTS / f"scaling_exponents{suffix}.csv", index=False, float_format="%.4g")
    plot(table, RESULTS / f"scaling{suffix}.png")
    print(exponents.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    at_target = (
        (table["method"] == TARGET["method"]) & (table["p"] == TARGET["p"]) & (table["k"] == TARGET["k"])
    )
    if at_target.any():
        row = table[at_target].iloc[0]
        ok = row["seconds"] < TARGET["seconds"] and row["peak_mb"] < TARGET["peak_mb"]
        print(f"target REM p=20 k=800: {row['seconds']:.1f} s (< 60 s), peak {row['peak_mb']:.0f} MB "
              f"(< 2048 MB): {'met' if ok else 'MISSED'}")
    print(f"written scaling{suffix}.csv, scaling_exponents{suffix}.csv, scaling{suffix}.png in {RESULTS} "
          f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
