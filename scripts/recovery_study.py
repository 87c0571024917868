"""Full-size robustness runs behind notebook 09: the parameter-recovery study and the exact leave-one-out.

Usage (from the repository root)::

    .venv/bin/python scripts/recovery_study.py                  # both parts, defaults below
    .venv/bin/python scripts/recovery_study.py --reps 20 --part recovery --out /tmp/try

Part ``recovery`` (``results/parameter_recovery/``): databases of ``--studies`` studies are drawn from
the population model without moderators (``Population.without_moderators``) in two arms:

* ``clean``: publication selection off; the approaches of ``masem.default_approaches()``
  (TSSEM on corrected correlations, univariate r on corrected correlations, TSSEM on observed
  correlations);
* ``file drawer``: the bundled design's selection on PE - TP switched on; TSSEM on corrected
  correlations only, to show the bias the file drawer causes.

Each arm uses ``--reps`` replications seeded from ``SeedSequence(--seed)`` (the file-drawer arm from
``--seed + 1``), the model ``results/parameter_recovery/recovery_model.lav`` (the population's own
structure among 13 constructs) and writes ``recovery_summary.csv``, ``recovery_estimates.csv``,
``recovery_truth.csv`` and ``README.md`` (settings, run time, machine).

Part ``loo`` (``results/robustness/``): the exact leave-one-study-out of notebook 05's chosen model
(``models/attitudes_to_turnover.lav``) on the bundled database: stage 1 REM refitted without each
study. Writes ``leave_one_out_exact.csv``, ``leave_one_out_status.csv`` and ``README.md``.
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
import scipy

import masem

ROOT = Path(__file__).resolve().parents[1]
RECOVERY_VARIABLES = ["HPWP", "SPS", "LEAD", "WCH", "CSE", "PE", "JS", "OC", "STR", "TI", "TP", "SERV", "CSAT"]
LOO_VARIABLES = ["HPWP", "SPS", "LEAD", "WCH", "CSE", "PE", "JS", "OC", "TI", "TP", "SERV", "CSAT"]
FLOAT_FORMAT = "%.6g"  # six significant digits: stable text diffs, far below the Monte Carlo error


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.platform()}; {os.cpu_count()} logical cores (load average at the end {load}); "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pandas {pd.__version__}, masem {masem.__version__}; OPENBLAS_NUM_THREADS="
        f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )


def run_recovery(args: argparse.Namespace) -> None:
    out = Path(args.out) / "parameter_recovery"
    out.mkdir(parents=True, exist_ok=True)
    model_path = ROOT / "results" / "parameter_recovery" / "recovery_model.lav"
    model = model_path.read_text(encoding="utf-8")
    if out.resolve() != model_path.parent.resolve():
        (out / model_path.name).write_text(model, encoding="utf-8")
    population = masem.read_population(ROOT / "data" / "population", "individual").without_moderators()
    bundled = masem.default_design("individual")
    arms = {
        "clean": (dataclasses.replace(bundled, selection=None), masem.default_approaches(), args.seed),
        "file drawer": (bundled, masem.default_approaches()[:1], args.seed + 1),
    }
    summaries, estimates, truths, timings = [], [], [], {}
    for arm, (design, approaches, seed) in arms.items():
        print(f"arm {arm!r}: {args.reps} replications of {args.studies} studies, seed {seed}", flush=True)
        start = time.perf_counter()
        with masem.collect_notes():
            result = masem.parameter_recovery(
                population, model, RECOVERY_VARIABLES, n_reps=args.reps, seed=seed,
                n_studies=args.studies, design=design, approaches=approaches,
                n_jobs=args.n_jobs, progress=not args.quiet,
            )
        timings[arm] = time.perf_counter() - start
        summaries.append(result.summary().assign(arm=arm))
        estimates.append(result.estimates.assign(arm=arm))
        truths.append(result.truth.assign(arm=arm))
        print(result.status().to_string(index=False), flush=True)

    def first(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[["arm"] + [c for c in frame.columns if c != "arm"]]

    first(pd.concat(summaries, ignore_index=True)).to_csv(
        out / "recovery_summary.csv", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    first(pd.concat(estimates, ignore_index=True)).to_csv(
        out / "recovery_estimates.csv", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    first(pd.concat(truths, ignore_index=True)).to_csv(
        out / "recovery_truth.csv", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    lines = [
        "# Parameter-recovery study (simulated data)",
        "",
        "Written by `scripts/recovery_study.py --part recovery`; shown in notebook 09. Every database",
        "here is simulated from the population model in `data/population` (moderators removed, so",
        "that one matrix is the estimand); nothing is a published finding.",
        "",
        "| setting | value |",
        "| --- | --- |",
        f"| command | `.venv/bin/python scripts/recovery_study.py --part recovery --reps {args.reps} "
        f"--studies {args.studies} --seed {args.seed} --n-jobs {args.n_jobs}` |",
        f"| replications per arm | {args.reps} |",
        f"| studies per database | {args.studies} (design `default_design('individual')`) |",
        f"| seeds | `SeedSequence({args.seed})` (clean arm), `SeedSequence({args.seed + 1})` (file-drawer arm), one child per replication |",
        "| model | `recovery_model.lav` (the population's structure among 13 constructs) |",
        "| arms | clean: no publication selection, approaches TSSEM / univariate r (both corrected for unreliability) / TSSEM uncorrected; file drawer: selection on PE - TP as in the bundled data, TSSEM corrected |",
        f"| run time | clean {timings['clean'] / 60:.1f} min, file drawer {timings['file drawer'] / 60:.1f} min, with {args.n_jobs} worker process(es) |",
        f"| machine | {machine()} |",
        "",
        "Files: `recovery_summary.csv` (one row per arm, approach and parameter: truth, bias and its",
        "Monte Carlo SE, empirical and mean model SE, RMSE, coverage of the 95% Wald interval and its",
        "Monte Carlo SE), `recovery_estimates.csv` (every replication), `recovery_truth.csv` (true and",
        "pseudo-true values with their sensitivity to the weight matrix; see `masem.recovery_truth`).",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out}", flush=True)


def run_loo(args: argparse.Namespace) -> None:
    out = Path(args.out) / "robustness"
    out.mkdir(parents=True, exist_ok=True)
    model = (ROOT / "models" / "attitudes_to_turnover.lav").read_text(encoding="utf-8")
    studies = masem.read_database(ROOT / "data" / "individual").matrices(LOO_VARIABLES)
    start = time.perf_counter()
    with masem.collect_notes():
        loo = masem.leave_one_out(studies, model, method="REM", n_jobs=args.n_jobs, progress=not args.quiet)
    elapsed = time.perf_counter() - start
    loo.table.to_csv(out / "leave_one_out_exact.csv", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    loo.status.to_csv(out / "leave_one_out_status.csv", index=False, lineterminator="\n")
    lines = [
        "# Exact leave-one-study-out (simulated data)",
        "",
        "Written by `scripts/recovery_study.py --part loo`; shown in notebook 09. The bundled simulated",
        "database (`data/individual`), the 12 constructs of notebook 05 and its chosen model",
        "(`models/attitudes_to_turnover.lav`); stage 1 random effects refitted without each study",
        "(`masem.leave_one_out(..., approximate=False)`).",
        "",
        "| setting | value |",
        "| --- | --- |",
        f"| command | `.venv/bin/python scripts/recovery_study.py --part loo --n-jobs {args.n_jobs}` |",
        f"| fits | {loo.n_studies} leave-one-out fits + 1 full fit |",
        f"| run time | {elapsed / 60:.1f} min with {args.n_jobs} worker process(es) |",
        f"| machine | {machine()} |",
        "",
        "Files: `leave_one_out_exact.csv` (omitted study x parameter: estimate and SE without the study,",
        "full-data estimate and SE, influence = full - without, DFBETAS = influence / SE),",
        "`leave_one_out_status.csv` (one row per omitted study: status and number of numerical notes).",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out} ({elapsed / 60:.1f} min)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["all", "recovery", "loo"], default="all", help="what to run (default: all)")
    parser.add_argument("--reps", type=int, default=100, help="replications per recovery arm (default 100)")
    parser.add_argument("--studies", type=int, default=150, help="studies per simulated database (default 150)")
    parser.add_argument("--seed", type=int, default=2011, help="root seed (default 2011)")
    parser.add_argument("--n-jobs", type=int, default=2, help="worker processes (default 2; -1 = all cores)")
    parser.add_argument("--out", default=str(ROOT / "results"), help="output root (default: results/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    warnings.simplefilter("default")
    if args.part in ("all", "loo"):
        run_loo(args)
    if args.part in ("all", "recovery"):
        run_recovery(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
