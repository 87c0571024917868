"""OSMASEM timings (`make bench`, or `python benchmarks/osmasem_bench.py`): masem.osmasem against
metaSEM 1.5.5's osmasem(), on Gnambs18, and at scale.

1. Every analysis in tests/reference/expected/osmasem/*.json: the model without (M0) and with the
   moderator (M1), best of repeated runs after a warm-up, single-threaded, next to metaSEM's
   median time stored in the file (``timing.median_s``) and the ratio.
2. Gnambs18 (113 studies, the ten Rosenberg items): a one-factor model with all ten loadings
   moderated by the standardised publication year (target: under 5 s; metaSEM needs about
   15 minutes for one such fit, as reported in the project's issue).
3. Scale: p = 20 variables, k = 800 simulated studies with 30% of the correlations missing, a
   recursive path model whose every path is moderated by one moderator (target: under 60 s and
   2 GB peak memory, measured with tracemalloc).

Writes benchmarks/results/osmasem_timings.csv and prints the table.
"""

from __future__ import annotations

import json
import os
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import masem  # noqa: E402
from masem.model import lavaan_to_ram  # noqa: E402
from masem.osmasem._structure import Structure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
RESULTS = ROOT / "benchmarks" / "results"
BUDGET_S = 1.0  # timed runs of a step stop once they took this long (at least MIN_RUNS of them)
MIN_RUNS = 5
COLUMNS = ["dataset", "k", "p", "fit", "masem_s", "runs", "metasem_s", "speedup", "peak_MB", "note"]


def best_of(fn, min_runs: int = MIN_RUNS, budget: float = BUDGET_S) -> tuple[float, int]:
    """Best time of repeated runs after one warm-up run (warnings of the runs silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn()
        times: list[float] = []
        while len(times) < min_runs or sum(times) < budget:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return min(times), len(times)


def reference_rows() -> list[dict]:
    rows = []
    for path in sorted((REFERENCE / "expected" / "osmasem").glob("*.json")):
        expected = json.loads(path.read_text(encoding="utf-8"))
        raw = json.loads((REFERENCE / "data" / expected["input"]["file"].rsplit("/", 1)[-1]).read_text())
        model = expected["model"]["lavaan_syntax"]
        for name, block in expected["analyses"].items():
            used = [i - 1 for i in block["studies_used_index"]]
            values = block["moderator"]["values_used"]
            values = values if len(values) == len(used) else [values[i] for i in used]
            column = block["moderator"]["column"]
            data = masem.cor_data(
                [np.array(raw["matrices"][i], dtype=float) for i in used], [raw["n"][i] for i in used],
                variables=raw["variables"], moderators=pd.DataFrame({column: values}),
            )
            moderated = [e["base_label"] for e in block["moderated_elements"]]
            for fit, run in (
                ("M0", lambda: masem.osmasem(data, model)),
                ("M1", lambda: masem.osmasem(data, model, moderators=column, moderate=moderated)),
            ):
                seconds, runs = best_of(run)
                reference = block[fit]["timing"]["median_s"]
                rows.append({"dataset": f"{path.stem} {name}", "k": data.k, "p": len(data.variables),
                             "fit": fit, "masem_s": seconds, "runs": runs, "metasem_s": reference,
                             "speedup": reference / seconds, "peak_MB": np.nan, "note": ""})
    return rows


def gnambs_row() -> dict:
    raw = json.loads((REFERENCE / "data" / "Gnambs18.json").read_text(encoding="utf-8"))
    year = pd.Series(raw["moderators"]["Year"], dtype=float)
    data = masem.cor_data(
        [np.array(m, dtype=float) for m in raw["matrices"]], raw["n"], variables=raw["variables"],
        moderators=pd.DataFrame({"Year": (year - year.mean()) / year.std()}),
    )
    model = "F =~ " + " + ".join(raw["variables"])
    seconds, runs = best_of(lambda: masem.osmasem(data, model, moderators="Year"), min_runs=3)
    return {"dataset": "Gnambs18", "k": data.k, "p": len(data.variables), "fit": "10 loadings x Year",
            "masem_s": seconds, "runs": runs, "metasem_s": 15 * 60.0, "speedup": 15 * 60.0 / seconds,
            "peak_MB": np.nan, "note": "metaSEM: about 15 min, as reported in the project's issue 17"}


def simulated_literature(p: int = 20, k: int = 800, missing: float = 0.3, seed: int = 2020):
    """A recursive model with every path moderated, and k studies drawn from it (30% cells missing)."""
    rng = np.random.default_rng(seed)
    names = [f"v{j + 1}" for j in range(p)]
    lines = []
    for j in range(4, p):
        predictors = sorted(rng.choice(j, size=2 + j % 2, replace=False))
        lines.append(f"{names[j]} ~ " + " + ".join(names[i] for i in predictors))
    for a in range(4):
        lines.append(f"{names[a]} ~~ 1*{names[a]}")
        lines += [f"{names[a]} ~~ {names[b]}" for b in range(a)]
    model = "\n".join(lines)
    structure = Structure(lavaan_to_ram(model, names), {}, [])
    paths = np.array(["on" in n for n in structure.names])  # XonY: a path; XwithY: a covariance
    theta = np.where(paths, 0.2, 0.3)
    matrices, sizes, moderator = [], rng.integers(100, 500, size=k), rng.normal(size=k)
    for i in range(k):
        rho = structure.implied(theta + 0.05 * moderator[i] * paths, np.zeros((1, 0)))[0]
        R = np.eye(p)
        R[structure.rows, structure.cols] = rho
        R[structure.cols, structure.rows] = rho
        sample = rng.multivariate_normal(np.zeros(p), R, size=int(sizes[i]))
        S = np.corrcoef(sample, rowvar=False)
        hide = rng.random(rho.size) < missing
        S[structure.rows[hide], structure.cols[hide]] = np.nan
        S[structure.cols[hide], structure.rows[hide]] = np.nan
        matrices.append(S)
    data = masem.cor_data(matrices, sizes, variables=names, moderators=pd.DataFrame({"x": moderator}))
    return data, model


def scale_row() -> dict:
    """One timed fit, then one under tracemalloc for the peak memory (its overhead slows the fit)."""
    data, model = simulated_literature()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        fit = masem.osmasem(data, model, moderators="x", moderate="A")
        seconds = time.perf_counter() - start
        tracemalloc.start()
        masem.osmasem(data, model, moderators="x", moderate="A")
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    return {"dataset": "simulated (30% missing)", "k": data.k, "p": len(data.variables),
            "fit": f"every path x 1 moderator ({fit.n_parameters} parameters)", "masem_s": seconds,
            "runs": 1, "metasem_s": np.nan, "speedup": np.nan, "peak_MB": peak,
            "note": f"converged: {fit.converged}; peak memory of a second fit under tracemalloc"}


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = reference_rows() + [gnambs_row(), scale_row()]
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.to_csv(RESULTS / "osmasem_timings.csv", index=False, float_format="%.6g")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nwritten {RESULTS / 'osmasem_timings.csv'} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
