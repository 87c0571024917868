"""Do the prediction intervals of masem.prediction_intervals cover new studies' true paths?

Usage (from the repository root)::

    .venv/bin/python scripts/prediction_coverage.py                       # the full run below
    .venv/bin/python scripts/prediction_coverage.py --setup mediation --reps 20 --studies 60

Each replication draws a literature of ``--studies`` studies, pools it (random-effects TSSEM stage
1), fits the model (stage 2) and computes the 95% prediction intervals (``--draws`` study-level
matrices). It then draws ``--new`` new studies from the same population and records, for every
path and ``:=`` effect, the share of the new studies' *true* values (the model fitted to the new
study's true correlation matrix, no sampling error) that fall inside the interval. The mean of
that share over the replications is the coverage; its Monte Carlo SE is their SD / sqrt(reps).

Setups:

* ``mediation``: three variables X, M, Y (rho_XM .40, rho_XY .22, rho_MY .34), every study reports
  every correlation, true matrices tanh(atanh(rho) + tau e) with e ~ N(0, 1) per cell, sample
  correlations of n normal observations (n lognormal around ``--n-median``), the saturated model
  M ~ a*X, Y ~ b*M + c*X, ab := a*b, so that a study's true paths are its regression coefficients.
* ``study``: the project's individual-level population without moderators, literatures drawn by
  ``masem.simulate_database`` (the bundled design, ``generator="statistics"``, no publication
  selection; observed correlations, as notebook 05 analyses them), notebook 05's chosen model; a
  new study's true matrix is the population matrix with the generator's random effects, attenuated
  by its own scales' reliabilities (drawn as the generator draws them), and its true paths the
  model fitted to it with the replication's own stage-2 weights (those of the prediction draws).

Writes ``coverage.csv`` (one row per setup and parameter) and ``README.md`` (settings, machine,
run time) to ``--out`` (default ``results/prediction_coverage``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import masem

ROOT = Path(__file__).resolve().parents[1]
RHO = np.array([[1.0, 0.40, 0.22], [0.40, 1.0, 0.34], [0.22, 0.34, 1.0]])
MEDIATION_MODEL = "M ~ a*X\nY ~ b*M + c*X\nab := a*b"
STUDY_VARIABLES = ["HPWP", "SPS", "LEAD", "WCH", "CSE", "PE", "JS", "OC", "TI", "TP", "SERV", "CSAT"]
FLOAT_FORMAT = "%.6g"


def true_matrices(rng: np.random.Generator, rho: np.ndarray, tau: float, size: int) -> np.ndarray:
    """``size`` study-level true correlation matrices: Fisher-z random effects, positive definite."""
    p = len(rho)
    rows, cols = np.tril_indices(p, -1)
    z = np.arctanh(rho[rows, cols])
    out = []
    while len(out) < size:
        matrix = np.eye(p)
        matrix[rows, cols] = matrix[cols, rows] = np.tanh(z + tau * rng.standard_normal(len(z)))
        if np.linalg.eigvalsh(matrix)[0] > 0:
            out.append(matrix)
    return np.array(out)


def mediation_paths(matrices: np.ndarray) -> dict[str, np.ndarray]:
    """The saturated model's paths of each matrix: a = r_XM, (c, b) the regression of Y on X, M."""
    a = matrices[:, 1, 0]
    c = (matrices[:, 2, 0] - a * matrices[:, 2, 1]) / (1 - a**2)
    b = (matrices[:, 2, 1] - a * matrices[:, 2, 0]) / (1 - a**2)
    return {"a": a, "b": b, "c": c, "ab": a * b}


def mediation_replication(rng, args) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """One literature of the mediation setup: its prediction intervals and new studies' paths."""
    n = np.clip(np.round(args.n_median * np.exp(0.4 * rng.standard_normal(args.studies))), 20, None)
    samples = []
    for truth, size in zip(true_matrices(rng, RHO, args.tau, args.studies), n.astype(int)):
        x = rng.standard_normal((size, 3)) @ np.linalg.cholesky(truth).T
        samples.append(np.corrcoef(x, rowvar=False))
    stage1 = masem.tssem1(samples, n.astype(int), variables=["X", "M", "Y"])
    stage2 = masem.tssem2(stage1, MEDIATION_MODEL)
    pi = masem.prediction_intervals(
        stage1, stage2, n_draws=args.draws, seed=int(rng.integers(2**31)), progress=False
    )
    return pi.summary(), mediation_paths(true_matrices(rng, RHO, args.tau, args.new))


def study_replication(rng, args, population, design) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """One literature of the study setup (see the module docstring)."""
    model = (ROOT / "models" / "attitudes_to_turnover.lav").read_text(encoding="utf-8")
    db = masem.simulate_database(
        population, n_studies=args.studies, seed=int(rng.integers(2**31)), design=design,
        generator="statistics",
    )
    m = db.matrices(STUDY_VARIABLES)
    stage1 = masem.tssem1(m.matrices, m.n)
    stage2 = masem.tssem2(stage1, model)
    pi = masem.prediction_intervals(
        stage1, stage2, n_draws=args.draws, seed=int(rng.integers(2**31)), n_jobs=args.n_jobs,
        progress=False,
    )
    rho = population.rho.loc[STUDY_VARIABLES, STUDY_VARIABLES].to_numpy()
    low, high = design.reliability
    paths: dict[str, list[float]] = {name: [] for name in pi.summary()["parameter"]}
    for truth in true_matrices(rng, rho, design.tau, args.new):
        # The study's own scales attenuate its correlations by sqrt(rxx ryy) (Spearman, 1904),
        # with reliabilities drawn as the generator draws them.
        root = np.sqrt(low + (high - low) * rng.beta(*design.reliability_shape, size=len(truth)))
        observed = truth * np.outer(root, root)
        np.fill_diagonal(observed, 1.0)
        try:
            values = masem.refit(stage2, masem.vechs(observed)).summary()
        except masem.ModelError:
            # The model cannot be fitted to this matrix (it is left out of the coverage, and
            # the share of such new studies is reported).
            values = pd.DataFrame({"parameter": list(paths), "estimate": np.nan})
        for name, value in zip(values["parameter"], values["estimate"]):
            paths[name].append(value)
    return pi.summary(), {name: np.array(v) for name, v in paths.items()}


def run(args: argparse.Namespace) -> pd.DataFrame:
    """Coverage of every parameter over ``args.reps`` replications of ``args.setup``."""
    rng = np.random.default_rng(args.seed)
    population = masem.read_population(ROOT / "data" / "population", "individual").without_moderators()
    design = dataclasses.replace(masem.default_design("individual"), selection=None)
    shares: dict[str, list[float]] = {}
    widths: dict[str, list[float]] = {}
    failed = 0
    for _ in range(args.reps):
        with warnings.catch_warnings():
            # tau2 at a bound and discarded draws are expected in some literatures; the coverage
            # is what this run measures.
            warnings.simplefilter("ignore", masem.ConvergenceWarning)
            if args.setup == "mediation":
                summary, truth = mediation_replication(rng, args)
            else:
                summary, truth = study_replication(rng, args, population, design)
        for row in summary.itertuples():
            values = truth[row.parameter]
            values = values[np.isfinite(values)]
            failed += len(truth[row.parameter]) - len(values)
            inside = (values >= row.pi_lower) & (values <= row.pi_upper)
            shares.setdefault(row.parameter, []).append(float(np.mean(inside)))
            widths.setdefault(row.parameter, []).append(row.pi_upper - row.pi_lower)
    rows = []
    for name, values in shares.items():
        values = np.array(values)
        rows.append({
            "setup": args.setup, "studies": args.studies, "parameter": name,
            "coverage": values.mean(), "coverage_mcse": values.std(ddof=1) / np.sqrt(len(values)),
            "mean_width": float(np.mean(widths[name])), "reps": len(values),
            "new_studies_not_fitted": failed // len(shares),
        })
    return pd.DataFrame(rows)


def machine() -> str:
    return (
        f"{platform.platform()}; {os.cpu_count()} logical cores; Python {platform.python_version()}, "
        f"numpy {np.__version__}, masem {masem.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", choices=["mediation", "study", "both"], default="both")
    parser.add_argument("--reps", type=int, default=200, help="replications (default 200)")
    parser.add_argument("--studies", type=int, nargs="+", default=[40, 150, 400],
                        help="studies per literature, one run each (default 40 150 400)")
    parser.add_argument("--n-median", type=float, default=150, help="median n (mediation setup)")
    parser.add_argument("--tau", type=float, default=0.1, help="SD of the Fisher-z random effects (mediation)")
    parser.add_argument("--draws", type=int, default=999, help="prediction draws per replication (default 999)")
    parser.add_argument("--new", type=int, default=2000, help="new studies per replication (default 2000)")
    parser.add_argument("--seed", type=int, default=2011)
    parser.add_argument("--n-jobs", type=int, default=1, help="workers for the prediction refits (study setup)")
    parser.add_argument("--out", default=str(ROOT / "results" / "prediction_coverage"))
    args = parser.parse_args(argv)
    setups = ["mediation", "study"] if args.setup == "both" else [args.setup]
    tables, timings = [], []
    for setup in setups:
        for k in args.studies:
            start = time.perf_counter()
            table = run(argparse.Namespace(**{**vars(args), "setup": setup, "studies": k}))
            timings.append(f"{setup} k = {k}: {(time.perf_counter() - start) / 60:.1f} min")
            tables.append(table)
            print(table.to_string(index=False), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pd.concat(tables, ignore_index=True).to_csv(
        out / "coverage.csv", index=False, float_format=FLOAT_FORMAT, lineterminator="\n"
    )
    command = " ".join(["scripts/prediction_coverage.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [
        "# Coverage of the prediction intervals of paths (simulated data)",
        "",
        "Written by `scripts/prediction_coverage.py` (its docstring describes the setups). `coverage`:",
        "mean share of new studies' true values inside the 95% prediction interval, over the",
        "replications; `coverage_mcse` its Monte Carlo SE; `mean_width` the mean interval width.",
        "",
        "| setting | value |",
        "| --- | --- |",
        f"| command | `.venv/bin/python {command}` |",
        f"| replications, draws, new studies | {args.reps}, {args.draws}, {args.new} |",
        f"| seed | {args.seed} |",
        f"| run time | {'; '.join(timings)} |",
        f"| machine | {machine()} |",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
