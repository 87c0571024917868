"""The masem command (masem.cli): does `masem run` write every promised file with the numbers the
library computes from the same input (and the same file twice for the same seed); does `masem
validate` summarise a good folder and explain a bad one with exit code 1 and no traceback; is
`--help` complete; and does the installed console script work?"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import masem
from masem.cli import main

from conftest import ROOT

TEMPLATE = ROOT / "data" / "template"
MODEL = TEMPLATE / "model.lav"
EXPECTED_FILES = {
    "stage1_pooled.csv", "stage1_pooled.md", "stage1_summary.csv", "stage1_summary.md",
    "stage2_parameters.csv", "stage2_parameters.md", "stage2_fit.csv", "stage2_fit.md",
    "indirect_effects.csv", "indirect_effects.md", "path_diagram.gv", "summary.txt",
}
# Numbers written with full precision by pandas' CSV writer read back to within a few ulps.
CSV_TOL = 1e-12


def _copy_template(tmp_path: Path) -> Path:
    folder = tmp_path / "studies"
    shutil.copytree(TEMPLATE, folder)
    return folder


def _library_fit(data: Path, method: str = "REM"):
    """The pipeline run by hand with the library: the reference for the files `masem run` writes."""
    database = masem.read_database(data)
    studies = database.matrices(["HPWP", "PE", "JS", "TP"])  # the model's variables, codebook order
    with masem.collect_notes():
        stage1 = masem.tssem1(studies.matrices, studies.n, method=method)
    return stage1, masem.tssem2(stage1, MODEL.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------
# masem validate
# ----------------------------------------------------------------------------------------------


def test_validate_summarises_the_template(capsys) -> None:
    assert main(["validate", str(TEMPLATE), "--model", str(MODEL)]) == 0
    out = capsys.readouterr().out
    assert "a valid study database" in out
    assert "3 independent samples, total N = 525" in out
    assert "6 of 6 construct pairs" in out
    assert "4 observed variables are constructs of the folder" in out
    assert "studies for HPWP, PE, JS, TP:\n  kept:      3 of 3 studies, N = 525\n" in out


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("correlations.csv", "EX01,PE,JS,0.550", "EX01,PE,JS,1.7", "outside \\[-1, 1\\]"),
        ("correlations.csv", "EX02,PE,TP", "EX02,PE,TPX", "unknown construct"),
        ("studies.csv", ",95\n", ",0\n", "too small"),
        ("correlations.csv", "study_id,var1", "study,var1", "missing column 'study_id'"),
    ],
)
def test_validate_explains_a_broken_folder_without_a_traceback(tmp_path, capsys, file, old, new, message) -> None:
    folder = _copy_template(tmp_path)
    text = (folder / file).read_text(encoding="utf-8")
    assert old in text
    (folder / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    assert main(["validate", str(folder)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("masem validate: error: ") and "Traceback" not in captured.err
    assert re.search(message, captured.err)


def test_validate_reports_a_missing_folder_and_a_model_with_unknown_variables(tmp_path, capsys) -> None:
    assert main(["validate", str(tmp_path / "nowhere")]) == 1
    assert "folder not found" in capsys.readouterr().err
    model = tmp_path / "m.lav"
    model.write_text("PE ~ a*HPWP\nSTR ~ b*PE\nHPWP ~~ 1*HPWP\n", encoding="utf-8")
    assert main(["validate", str(TEMPLATE), "--model", str(model)]) == 1
    captured = capsys.readouterr()
    assert f"{model}, line 2: 'STR': not a construct of the database" in captured.err
    assert captured.out == ""  # nothing printed, "a valid study database" least of all


# ----------------------------------------------------------------------------------------------
# masem run
# ----------------------------------------------------------------------------------------------


def test_run_writes_every_table_with_the_library_numbers(tmp_path, capsys) -> None:
    out = tmp_path / "results"
    code = main(["run", "--data", str(TEMPLATE), "--model", str(MODEL), "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0
    assert EXPECTED_FILES <= {p.name for p in out.iterdir()}
    assert (out / "summary.txt").read_text(encoding="utf-8") == captured.out
    assert "[1/" not in captured.err  # --no-progress: no step messages
    assert "Note: tssem1 (REM): tau2 at its lower bound" in captured.err  # notes as lines, not warnings

    stage1, stage2 = _library_fit(TEMPLATE)
    pooled = pd.read_csv(out / "stage1_pooled.csv", index_col=0)
    np.testing.assert_allclose(pooled.to_numpy(), stage1.pooled.to_numpy(), rtol=0, atol=CSV_TOL)
    parameters = pd.read_csv(out / "stage2_parameters.csv")
    expected = stage2.inspect()
    assert parameters["label"].tolist() == expected["label"].tolist()
    np.testing.assert_allclose(parameters["Estimate"], expected["Estimate"], rtol=0, atol=CSV_TOL)
    np.testing.assert_allclose(parameters["ci.upper"], expected["ci.upper"], rtol=0, atol=CSV_TOL)
    fit = pd.read_csv(out / "stage2_fit.csv").set_index("statistic")["value"]
    assert fit["chi2"] == pytest.approx(stage2.fit_stats()["chi2"], abs=CSV_TOL)
    indirect = pd.read_csv(out / "indirect_effects.csv")
    assert indirect["label"].tolist() == ["HPWP_JS", "HPWP_TP"]
    # An underscore inside a word stays as typed (CommonMark: it cannot start emphasis).
    assert "| HPWP_JS = a\\*b |" in (out / "indirect_effects.md").read_text(encoding="utf-8")
    assert f"chi2({stage2.fit_stats()['df']:g}) = {stage2.fit_stats()['chi2']:.2f}" in captured.out
    if shutil.which("dot"):
        assert (out / "path_diagram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out / "path_diagram.svg").read_bytes()


def test_run_bootstrap_matches_the_library_and_repeats_with_the_seed(tmp_path, capsys) -> None:
    args = ["run", "--data", str(TEMPLATE), "--model", str(MODEL), "--bootstrap", "100", "--seed", "5",
            "--intervals", "profile", "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    assert main(args + ["--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    for name in ("indirect_effects.csv", "stage2_parameters.csv", "indirect_effects.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    _, wald = _library_fit(TEMPLATE)
    boot = masem.tssem.indirect(wald, n_boot=100, seed=5, progress=False).summary().set_index("parameter")
    written = pd.read_csv(tmp_path / "a" / "indirect_effects.csv").set_index("label")
    for name in ("HPWP_JS", "HPWP_TP"):
        assert written.loc[name, "boot.lower"] == pytest.approx(boot.loc[name, "ci_lower"], abs=CSV_TOL)
        assert written.loc[name, "boot.upper"] == pytest.approx(boot.loc[name, "ci_upper"], abs=CSV_TOL)
    assert "profile likelihood" in (tmp_path / "a" / "stage2_parameters.md").read_text(encoding="utf-8")


def test_run_shows_progress_steps_on_stderr(tmp_path, capsys) -> None:
    assert main(["run", "--data", str(TEMPLATE), "--model", str(MODEL), "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "[1/4] reading and validating" in err and "[4/4] writing tables" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "{data}/results"], "inside the data folder"),
        (["--out", "{tmp}/o", "--variables", "PE", "JS"], "leaves out \\['HPWP', 'TP'\\]"),
        (["--out", "{tmp}/o", "--bootstrap", "50"], "at least 100"),
        (["--out", "{tmp}/o", "--data", "{broken}"], "not positive definite: EX01 .*--keep-nonpd"),
        (["--out", "{tmp}/o", "--method", "fem"], "EX03 .* does not report r\\(HPWP, TP\\).*Use --method REM"),
    ],
)
def test_run_refuses_bad_requests_with_exit_code_1(tmp_path, capsys, extra, message) -> None:
    data = _copy_template(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(TEMPLATE, broken)
    text = (broken / "correlations.csv").read_text(encoding="utf-8")
    (broken / "correlations.csv").write_text(
        text.replace("EX01,HPWP,JS,0.300", "EX01,HPWP,JS,-0.700"), encoding="utf-8"
    )
    args = ["run", "--data", str(data), "--model", str(MODEL), "--no-progress"]
    args += [a.format(data=data, tmp=tmp_path, broken=broken) for a in extra]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("masem run: error: ") and "Traceback" not in err
    assert re.search(message, err)
    assert not (data / "results").exists()


def test_run_refuses_a_missing_model_file(tmp_path, capsys) -> None:
    assert main(["run", "--data", str(TEMPLATE), "--model", str(tmp_path / "none.lav"), "--out", str(tmp_path)]) == 1
    assert "model file not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "phrases"),
    [
        (["run", "--help"], ["--data", "--model", "--out", "--method", "--variables", "--intervals",
                             "--bootstrap", "--seed", "--jobs", "--no-progress", "--exclude", "--keep-nonpd",
                             "examples:", "stage1_pooled.csv", "path_diagram.gv / .png / .svg / .pdf",
                             "# title:", ".venv/bin/masem"]),
        (["validate", "--help"], ["DIR", "--model", "--method", "--exclude", "--keep-nonpd", "examples:",
                                  "masem validate data/template", ".venv/bin/masem"]),
        (["--help"], ["run", "validate"]),
    ],
)
def test_help_is_complete(capsys, command, phrases) -> None:
    with pytest.raises(SystemExit) as stop:
        main(command)
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for phrase in phrases:
        assert phrase in out


def test_a_wrong_command_line_exits_with_2(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["run", "--data", "x"])
    assert stop.value.code == 2
    assert "required" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# The installed entry points
# ----------------------------------------------------------------------------------------------


def test_the_installed_console_script_validates_the_template() -> None:
    script = Path(sys.executable).parent / "masem"
    if not script.exists():
        pytest.skip("the masem console script is not installed next to this Python (pip install -e lib)")
    done = subprocess.run([str(script), "validate", str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "a valid study database" in done.stdout
    failed = subprocess.run([str(script), "validate", str(ROOT / "no_such_folder")], capture_output=True,
                            text=True, timeout=120)
    assert failed.returncode == 1 and "folder not found" in failed.stderr and "Traceback" not in failed.stderr


def test_python_dash_m_masem_reports_the_version() -> None:
    done = subprocess.run([sys.executable, "-m", "masem", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"masem {masem.__version__}"
