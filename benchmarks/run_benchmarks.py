"""Reference timings: masem against metaSEM 1.5.5 on the shared reference data sets (`make bench`).

For every matrix data set in tests/reference/data (the project's copy of the reference set), times tssem1 (REM with a
diagonal between-study covariance, and FEM) and, where tests/reference/expected/metasem/<name>.json
gives stage-2 models, tssem2 on the REM stage 1 with Wald and with profile (likelihood-based)
intervals. Each time is the best of several runs after a warm-up run, in one single-threaded
process; next to it stands the metaSEM median time stored in the expected file and the ratio.
Then the 2,000-replication parametric bootstrap of an indirect effect with all cores. Last, the
scaling study of stage 1 on simulated data (scaling.py, full grid; ``--quick`` for a reduced one,
``--no-scaling`` to skip it).

Writes benchmarks/results/reference_timings.csv, reference_timings.png (speed-up over metaSEM),
machine.json and the scaling results, and prints the tables. See benchmarks/README.md.
"""

from __future__ import annotations

import os

# Before numpy is imported: small matrices run faster single-threaded, and the metaSEM timings
# were taken single-threaded too.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # headless: make bench runs on servers and in CI
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy  # noqa: E402

import masem  # noqa: E402
import osmasem_bench  # noqa: E402  (benchmarks/osmasem_bench.py, next to this script)
import scaling  # noqa: E402  (benchmarks/scaling.py, next to this script)
from masem.errors import DataError, ModelError  # noqa: E402
from masem.tssem.indirect import indirect  # noqa: E402
from masem.tssem.stage1 import tssem1  # noqa: E402
from masem.tssem.stage2 import tssem2  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
RESULTS = ROOT / "benchmarks" / "results"

# A millisecond step is timed hundreds of times: a handful of runs right after start-up caught the
# CPU (a shared VM) before it had settled, and read up to 1.6x slow on the first data set.
MAX_RUNS = 300  # timed runs per step at most ...
MIN_RUNS = 5  # ... and at least
BUDGET_S = 1.0  # stop adding runs once the timed runs of a step took this long
BOOTSTRAP_CASE = ("Hunter83", "path_no_direct_effect")  # a path model with an indirect effect
BOOTSTRAP_REPS = 2000
BOOTSTRAP_RUNS = 2
COLUMNS = [
    "dataset", "p", "k", "step", "variant", "model", "masem_s", "runs", "metasem_s", "ratio", "speedup",
    "status", "note",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced scaling grid (see scaling.py --quick)")
    parser.add_argument("--no-scaling", action="store_true", help="reference timings only")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    (RESULTS / "machine.json").write_text(json.dumps(machine, indent=2) + "\n", encoding="utf-8")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()))
    reference_timings()
    print("\nOSMASEM")
    osmasem_bench.main()
    if not args.no_scaling:
        print()
        scaling.main(["--quick"] if args.quick else [])
    print(f"\nmake bench: {time.perf_counter() - started:.0f} s in all")
    return 0


def reference_timings() -> None:
    """Time every reference data set and the bootstrap; write and print reference_timings.csv."""
    data_dir = REFERENCE / "data"
    if not data_dir.is_dir():
        print(f"reference data not found at {data_dir} (tests/reference is part of the project: "
              "is this a complete clone?); no reference timings")
        return
    started = time.perf_counter()
    rows: list[dict] = []
    stage1_rem: dict[str, object] = {}
    for path in sorted(data_dir.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "matrices" not in data:
            continue
        name = path.stem
        expected = _expected(name)
        base = {"dataset": name, "p": len(data["variables"]), "k": len(data["matrices"])}
        for method in ("REM", "FEM"):
            row, fit = _time_stage1(data, method, expected)
            rows.append({**base, **row})
            if method == "REM":
                stage1_rem[name] = fit
        rows.extend({**base, **row} for row in _time_stage2(stage1_rem[name], expected))
    rows.append(_time_bootstrap(stage1_rem))

    table = pd.DataFrame(rows, columns=COLUMNS)
    table.to_csv(RESULTS / "reference_timings.csv", index=False, float_format="%.6g")
    _plot(table, RESULTS / "reference_timings.png")
    _print(table)
    elapsed = time.perf_counter() - started
    print(f"\nwritten {RESULTS / 'reference_timings.csv'} in {elapsed:.1f} s")


# ----------------------------------------------------------------------------------------------
# Steps
# ----------------------------------------------------------------------------------------------


def _time_stage1(data: dict, method: str, expected: dict | None) -> tuple[dict, object]:
    matrices = [np.array(m, dtype=float) for m in data["matrices"]]  # null (None) becomes NaN
    studies = [str(s) for s in data.get("studies", [])]
    if len(set(studies)) == len(matrices):  # named studies make error messages readable
        matrices = dict(zip(studies, matrices))
    reference = _get(expected, "tssem1", method, "timing", "median_s")
    row = {"step": "tssem1", "variant": f"{method} (Diag)" if method == "REM" else method, "model": ""}

    def run():
        return tssem1(matrices, data["n"], method=method, variables=data["variables"])

    try:
        timing = _best_of(run)
    except (DataError, ModelError) as exc:
        return {**row, **_not_timed(f"not applicable ({_short(exc)})", reference)}, None
    return {**row, **_timed(timing, reference)}, timing.result


def _time_stage2(stage1, expected: dict | None) -> list[dict]:
    if expected is None:
        status = "skipped (no expected/metasem file, so no stage-2 model)"
        return [{"step": "tssem2", "variant": "", "model": "", **_not_timed(status, math.nan)}]
    out = []
    for model_id, spec in expected.get("tssem2", {}).items():
        syntax = _syntax(spec)
        for intervals, ref_key in (("wald", "z"), ("profile", "LB")):
            reference = _get(spec, "on_REM", ref_key, "timing", "median_s")
            row = {"step": "tssem2", "variant": f"on REM, {intervals}", "model": model_id}
            if stage1 is None:
                out.append({**row, **_not_timed("skipped (REM stage 1 failed)", reference)})
                continue

            def run(intervals=intervals):
                diag = bool(spec["diag.constraints"])
                return tssem2(stage1, syntax, diag_constraints=diag, intervals=intervals)

            try:
                timing = _best_of(run)
            except (DataError, ModelError) as exc:
                out.append({**row, **_not_timed(f"failed ({_short(exc)})", reference)})
                continue
            out.append({**row, **_timed(timing, reference)})
    return out


def _time_bootstrap(stage1_rem: dict) -> dict:
    name, model_id = BOOTSTRAP_CASE
    row = {
        "dataset": name,
        "p": math.nan,
        "k": math.nan,
        "step": "bootstrap",
        "variant": f"{BOOTSTRAP_REPS} reps, n_jobs=-1",
        "model": model_id,
    }
    expected = _expected(name)
    spec = _get(expected, "tssem2", model_id)
    stage1 = stage1_rem.get(name)
    if spec is None or stage1 is None:
        return {**row, **_not_timed(f"skipped ({name} data or its model {model_id} not available)", math.nan)}
    row.update(p=len(stage1.variables), k=stage1.n_studies)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = tssem2(stage1, _syntax(spec), diag_constraints=bool(spec["diag.constraints"]))

    def run():
        return indirect(fit, n_boot=BOOTSTRAP_REPS, seed=2011, n_jobs=-1, progress=False)

    timing = _best_of(run, min_runs=BOOTSTRAP_RUNS, max_runs=BOOTSTRAP_RUNS)
    result = timing.result
    notes = [f"first call {timing.first:.2f} s (starts the worker processes)", timing.note]
    if result.n_failed or result.n_nonconverged:
        notes.append(f"{result.n_failed} failed, {result.n_nonconverged} not converged")
    return {**row, **_timed(timing, math.nan, "; ".join(filter(None, notes)))}


# ----------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Timing:
    best: float  # seconds, the fastest timed run
    runs: int  # timed runs
    first: float  # seconds, the warm-up run
    result: object  # what the warm-up run returned
    note: str  # the warnings of the warm-up run


def _best_of(fn: Callable, min_runs: int = MIN_RUNS, max_runs: int = MAX_RUNS) -> Timing:
    """Time fn(): one warm-up run, then timed runs until MIN_RUNS and BUDGET_S (or MAX_RUNS) are reached."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        result = fn()
        first = time.perf_counter() - start
    note = f"warning: {_short(caught[0].message)}" if caught else ""
    if len(caught) > 1:
        note += f" (+{len(caught) - 1} more)"
    times: list[float] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warm-up run has recorded them
        while len(times) < min_runs or (len(times) < max_runs and sum(times) < BUDGET_S):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return Timing(min(times), len(times), first, result, note)


def _timed(t: Timing, reference: float, note: str | None = None) -> dict:
    ratio = t.best / reference if np.isfinite(reference) and reference > 0 else math.nan
    note = t.note if note is None else note
    return {
        "masem_s": t.best, "runs": t.runs, "metasem_s": reference, "ratio": ratio, "speedup": 1.0 / ratio,
        "status": "ok", "note": note,
    }


def _not_timed(status: str, reference: float) -> dict:
    return {
        "masem_s": math.nan, "runs": 0, "metasem_s": reference, "ratio": math.nan, "speedup": math.nan,
        "status": status, "note": "",
    }


# ----------------------------------------------------------------------------------------------
# Reference files
# ----------------------------------------------------------------------------------------------


def _expected(name: str) -> dict | None:
    path = REFERENCE / "expected" / "metasem" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _get(block, *keys) -> float | dict | None:
    """A nested value of a reference file; NaN (timings) or None when any level is missing."""
    for key in keys:
        if not isinstance(block, dict) or key not in block or block[key] is None:
            return math.nan if keys[-1] == "median_s" else None
        block = block[key]
    return float(block) if keys[-1] == "median_s" else block


def _syntax(spec: dict) -> str:
    """The model's lavaan syntax plus its OpenMx algebras as ':=' lines, so the profile run
    computes the same intervals metaSEM did: ``Smatrix[i,j]`` is the label of S element (i, j)
    and a 1 x 1 identity matrix is the number 1."""
    algebras = spec.get("mx_algebras") or {}
    S = _get(spec, "on_REM", "RAM", "S")
    identities = [n for n, text in algebras.items() if text.startswith('mxMatrix("Iden"')]
    lines = [spec["lavaan_syntax"]]
    for name, text in algebras.items():
        match = re.fullmatch(r'mxAlgebra\((.*), name="(\w+)"\)', text)
        if not match or S is None:
            continue
        expression = re.sub(
            r"Smatrix\[(\d+),(\d+)\]",
            lambda m: str(S["values"][int(m.group(1)) - 1][int(m.group(2)) - 1]).split("*")[-1],
            match.group(1),
        )
        for identity in identities:
            expression = re.sub(rf"\b{identity}\b", "1", expression)
        lines.append(f"{name} := {expression}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Machine and output
# ----------------------------------------------------------------------------------------------


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "masem": masem.__version__,
        "blas": f"{blas.get('name')} {blas.get('version')}",
        "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
        "timing": f"best of {MIN_RUNS}-{MAX_RUNS} runs after a warm-up (time.perf_counter), one process",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def _short(obj, limit: int = 110) -> str:
    text = " ".join(str(obj).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _print(table: pd.DataFrame) -> None:
    shown = table.copy()
    for col in ("masem_s", "metasem_s"):
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    shown["ratio"] = shown["ratio"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    shown["speedup"] = shown["speedup"].map(lambda v: "" if pd.isna(v) else f"{v:.0f}x")
    shown["p"] = shown["p"].map(lambda v: "" if pd.isna(v) else f"{int(v)}")
    shown["k"] = shown["k"].map(lambda v: "" if pd.isna(v) else f"{int(v)}")
    for col in ("status", "note"):  # the CSV has them in full
        shown[col] = shown[col].map(lambda s: _short(s, 48))
    print(shown.to_string(index=False))


def _plot(table: pd.DataFrame, path: Path) -> None:
    """Horizontal bars: how many times faster than metaSEM, per data set and step (log scale)."""
    rows = table[table["ratio"].notna()].copy()
    if rows.empty:
        return
    rows["what"] = rows["dataset"] + ": " + rows["step"] + " " + rows["variant"]
    rows = rows.iloc[::-1]  # first data set on top
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.5))
    colours = rows["step"].map({"tssem1": "tab:blue", "tssem2": "tab:orange"}).fillna("tab:grey")
    ax.barh(rows["what"], rows["speedup"], color=colours)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.axvline(20.0, color="grey", linestyle="--", linewidth=1)
    ax.text(20.0, len(rows) - 0.4, " stage-1 target: 20x", fontsize=8, color="grey", va="bottom")
    ax.set(xscale="log", xlabel="speed-up over metaSEM 1.5.5 (metaSEM time / masem time, log scale)",
           title="masem against metaSEM, reference data sets, one thread")
    colour_of = {"stage 1": "tab:blue", "stage 2": "tab:orange"}
    handles = [matplotlib.patches.Patch(color=colour, label=step) for step, colour in colour_of.items()]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_ylim(-0.6, len(rows) + 0.4)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
