"""Full-size robustness runs behind notebook 09: the parameter-recovery study and the exact leave-one-out.

Usage (from the repository root)::

    .venv/bin/python scripts/recovery_study.py                  # both parts, defaults below
    .venv/bin/python scripts/recovery_study.py --part recovery --reps 20 --out /tmp/try
    .venv/bin/python scripts/recovery_study.py --part experiments --experiment-reps 200

Part ``recovery`` (``results/recovery_study/``): databases of ``--studies`` studies are drawn from
the population model of ``data/population`` *with its moderators* (individualism, customer
contact; the generator's Wishart draw of each study's statistics) in two arms:

* ``moderators``: publication selection off;
* ``file drawer``: the bundled design's selection on PE - TP switched on.

Each arm fits the study's chosen model (``--model``, default notebook 05's choice, the file named
by ``CHOSEN_MODEL`` in ``notebooks/study.py``) to the random-effects pooled correlations corrected
for unreliability (true-score estimand) and records the Wald, profile-likelihood and
parametric-bootstrap (``--boot`` draws) 95% intervals of every path and ``:=`` effect;
``--reps`` replications per arm seeded from ``SeedSequence(--seed)`` (file drawer ``--seed + 1``).

Part ``experiments``: targeted experiments that can explain a coverage shortfall, on the
``moderators`` arm's design with Wald intervals, ``--experiment-reps`` each:
``no moderators`` (the population without moderators: one true matrix), ``tau2 known`` (stage 1
pooled with the true between-study variances) and ``more studies`` (4 x ``--studies`` studies).

Both write ``summary.csv``, ``estimates.csv``, ``truth.csv`` and ``README.md`` (settings, seeds,
versions, machine, run time) to their folder; the CSV files are byte for byte the same on a re-run
with the same settings (``tests/test_recovery_study.py`` checks a small configuration).

Part ``loo`` (``results/robustness/``): the exact leave-one-study-out of the same model
(``--model``) on the bundled database, for the constructs the model uses: stage 1 REM refitted
without each study. Writes ``leave_one_out_exact.csv``, ``leave_one_out_status.csv``,
``model.lav`` and ``README.md``.
"""

from __future__ import annotations

import argparse
import ast
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
FLOAT_FORMAT = "%.6g"  # six significant digits: stable text diffs, far below the Monte Carlo error
MAIN = masem.Variant("TSSEM", method="REM", corrected=True)


def chosen_model() -> Path:
    """The model file notebook 05 chose: ``CHOSEN_MODEL`` of notebooks/study.py (read, not run)."""
    tree = ast.parse((ROOT / "notebooks" / "study.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "CHOSEN_MODEL" for t in node.targets):
            return ROOT / "models" / ast.literal_eval(node.value)
    raise SystemExit("notebooks/study.py defines no CHOSEN_MODEL; pass --model")


def _shown(path: Path) -> Path:
    """A path as the README shows it: relative to the repository when inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.platform()}; {os.cpu_count()} logical cores (load average at the end {load}); "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pandas {pd.__version__}, masem {masem.__version__}; OPENBLAS_NUM_THREADS="
        f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )


def write_tables(out: Path, results: dict[str, masem.RecoveryResult]) -> None:
    """summary.csv, estimates.csv, truth.csv: one block per arm, arm first."""
    def first(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[["arm"] + [c for c in frame.columns if c != "arm"]]

    for name, table in (("summary", "summary"), ("estimates", "estimates"), ("truth", "truth"), ("coverage", "coverage")):
        frames = []
        for arm, result in results.items():
            value = getattr(result, table)
            frames.append((value() if callable(value) else value).assign(arm=arm))
        first(pd.concat(frames, ignore_index=True)).to_csv(
            out / f"{name}.csv", index=False, float_format=FLOAT_FORMAT, lineterminator="\n"
        )


def run_arms(args: argparse.Namespace, arms: dict, intervals: tuple[str, ...], reps: int) -> tuple[dict, dict]:
    """Run each arm: {arm: (population, design, seed, n_studies, tau2)} -> results, timings."""
    model = Path(args.model).read_text(encoding="utf-8")
    results, timings = {}, {}
    for arm, (population, design, seed, n_studies, tau2) in arms.items():
        print(f"arm {arm!r}: {reps} replications of {n_studies} studies, seed {seed}", flush=True)
        start = time.perf_counter()
        with masem.collect_notes():
            results[arm] = masem.parameter_recovery(
                population, model, masem.model_variables(model, order=population.variables),
                n_reps=reps, seed=seed, n_studies=n_studies, design=design, approaches=[MAIN],
                intervals=intervals, n_boot=args.boot, tau2=tau2, n_jobs=args.n_jobs,
                progress=not args.quiet,
            )
        timings[arm] = (time.perf_counter() - start, results[arm].cpu_seconds)
        print(results[arm].status().to_string(index=False), flush=True)
    return results, timings


def coverage_lines(results: dict[str, masem.RecoveryResult]) -> list[str]:
    """A markdown table: coverage of each interval type for the paths and the ':=' effects."""
    lines = [
        "Coverage of the 95% intervals (nominal .95): the mean over replications of the share of the",
        "paths (or `:=` effects) whose interval contains the true value, with its Monte Carlo SE",
        "(`masem.recovery_coverage`); `lowest` is the parameter with the lowest coverage.",
        "",
        "| arm | parameters | interval | coverage (MC SE) | lowest | parameters below .95 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for arm, result in results.items():
        table = result.coverage()
        several = table["approach"].nunique() > 1
        for row in table[table["type"].isin(["path", "defined"])].itertuples():
            kind = "paths" if row.type == "path" else "`:=` effects"
            name = f"{arm}, {row.approach}" if several else arm
            lines.append(
                f"| {name} | {row.parameters} {kind} | {row.interval} | {row.coverage:.3f} ({row.coverage_mcse:.3f}) "
                f"| {row.lowest:.3f} (`{row.lowest_parameter}`) | {row.n_below} |"
            )
    return lines + [""]


def readme(out: Path, title: str, args, reps: int, arms: dict, intervals, timings: dict, part: str,
           results: dict | None = None) -> None:
    model = Path(args.model)
    total = sum(wall for wall, _ in timings.values())
    lines = [
        f"# {title} (simulated data)",
        "",
        f"Written by `scripts/recovery_study.py --part {part}`. Every database here is simulated",
        "from the population model in `data/population`; nothing is a published finding.",
        "",
        "| setting | value |",
        "| --- | --- |",
        f"| command | `.venv/bin/python scripts/recovery_study.py --part {part} --reps {args.reps} "
        f"--experiment-reps {args.experiment_reps} --studies {args.studies} --boot {args.boot} "
        f"--seed {args.seed} --model {_shown(model)} "
        f"--n-jobs {args.n_jobs}` |",
        f"| model | `{model.name}` (lavaan syntax copied to `model.lav`)"
        + (f"; origin: {args.model_origin}" if args.model_origin else "")
        + " |",
        f"| analysis | TSSEM: random-effects stage 1 on correlations corrected for unreliability, stage 2 with {', '.join(intervals)} 95% intervals"
        + (f" (bootstrap: {args.boot} parametric draws per replication, order statistics at (B + 1) .025 and .975)" if "bootstrap" in intervals else "")
        + " |",
        f"| replications per arm | {reps} |",
        "| arms | "
        + "; ".join(f"{arm}: {n} studies, seed `SeedSequence({seed})`, tau2 {tau2}, file drawer {'on' if design.selection else 'off'}, moderators {'on' if len(pop.moderators) else 'off'}"
                    for arm, (pop, design, seed, n, tau2) in arms.items())
        + " |",
        "| generator | `simulate_database(..., generator=\"statistics\")`: each study's item covariance drawn from its Wishart distribution |",
        "| run time | " + "; ".join(f"{arm} {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU in the replications" for arm, (wall, cpu) in timings.items())
        + f"; total {total / 60:.1f} min wall with {args.n_jobs} worker process(es) |",
        f"| machine | {machine()} |",
        "",
        "Files: `summary.csv` (one row per arm and parameter: truth, bias and its Monte Carlo SE,",
        "empirical and mean model SE, RMSE, coverage of each interval type with its Monte Carlo SE),",
        "`estimates.csv` (every replication, with every interval), `truth.csv` (the true values:",
        "the model fitted to the mean true-score matrix over the population of studies, with their",
        "sensitivity to the weight matrix; see `masem.recovery_truth`). The CSV files are the same",
        "byte for byte when the command is run again; the run time and machine lines are not.",
        "`coverage.csv` summarises the coverage of each interval type over the paths, the `:=` effects",
        "and the covariances (table below).",
        "",
    ]
    lines += coverage_lines(results or {})
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def run_part(args, folder: str, title: str, part: str, arms: dict, intervals: tuple, reps: int) -> None:
    """Run the arms of one part and write its folder: tables, the model, README."""
    out = Path(args.out) / folder
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.lav").write_text(Path(args.model).read_text(encoding="utf-8"), encoding="utf-8")
    results, timings = run_arms(args, arms, intervals, reps)
    write_tables(out, results)
    readme(out, title, args, reps, arms, intervals, timings, part, results)
    print(f"wrote {out}", flush=True)


def run_recovery(args: argparse.Namespace) -> None:
    population = masem.read_population(ROOT / "data" / "population", "individual")
    bundled = masem.default_design("individual")
    arms = {
        "moderators": (population, dataclasses.replace(bundled, selection=None), args.seed, args.studies, "estimated"),
        "file drawer": (population, bundled, args.seed + 1, args.studies, "estimated"),
    }
    run_part(args, "recovery_study", "Parameter-recovery study of the chosen model", "recovery", arms,
             ("wald", "profile", "bootstrap"), args.reps)


def run_experiments(args: argparse.Namespace) -> None:
    population = masem.read_population(ROOT / "data" / "population", "individual")
    clean = dataclasses.replace(masem.default_design("individual"), selection=None)
    arms = {
        "no moderators": (population.without_moderators(), clean, args.seed, args.studies, "estimated"),
        "tau2 known": (population, clean, args.seed, args.studies, "known"),
        "more studies": (population, clean, args.seed, 4 * args.studies, "estimated"),
    }
    run_part(args, "recovery_experiments", "Experiments behind the recovery study's coverage", "experiments",
             arms, ("wald",), args.experiment_reps)


def run_loo(args: argparse.Namespace) -> None:
    out = Path(args.out) / "robustness"
    out.mkdir(parents=True, exist_ok=True)
    model = Path(args.model).read_text(encoding="utf-8")
    (out / "model.lav").write_text(model, encoding="utf-8")
    database = masem.read_database(ROOT / "data" / "individual")
    variables = masem.model_variables(model, order=database.constructs["code"])
    studies = database.matrices(variables)
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
        f"database (`data/individual`), the {len(variables)} constructs of the model `{Path(args.model).name}`",
        "(copied to `model.lav`" + (f"; origin: {args.model_origin}" if args.model_origin else "") + ");",
        "stage 1 random effects refitted without each study (`masem.leave_one_out(..., approximate=False)`).",
        "",
        "| setting | value |",
        "| --- | --- |",
        f"| command | `.venv/bin/python scripts/recovery_study.py --part loo --model {_shown(Path(args.model))} --n-jobs {args.n_jobs}` |",
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
    parser.add_argument("--part", choices=["all", "recovery", "experiments", "loo"], default="all", help="what to run (default: all)")
    parser.add_argument("--reps", type=int, default=500, help="replications per recovery arm (default 500)")
    parser.add_argument("--experiment-reps", type=int, default=200, help="replications per experiment (default 200)")
    parser.add_argument("--studies", type=int, default=150, help="studies per simulated database (default 150)")
    parser.add_argument("--boot", type=int, default=79, help="parametric-bootstrap draws per replication (default 79)")
    parser.add_argument("--model", default=None, help="lavaan model file (default: notebook 05's chosen model)")
    parser.add_argument("--model-origin", default="", help="where the model file comes from, for the README (default: nothing)")
    parser.add_argument("--seed", type=int, default=2011, help="root seed (default 2011)")
    parser.add_argument("--n-jobs", type=int, default=2, help="worker processes (default 2; -1 = all cores)")
    parser.add_argument("--out", default=str(ROOT / "results"), help="output root (default: results/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    args.model = str(Path(args.model).resolve()) if args.model else str(chosen_model())
    warnings.simplefilter("default")
    if args.part in ("all", "loo"):
        run_loo(args)
    if args.part in ("all", "recovery"):
        run_recovery(args)
    if args.part in ("all", "experiments"):
        run_experiments(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
