"""The masem command and the API treat the same studies the same way, and say so (masem.cli).

Questions answered, one per test (or parametrised group):
- Do ``masem validate`` and ``masem run`` print the same block about the studies (kept, dropped
  and why, correlations missing), and does ``validate`` print nothing on stdout when it fails?
- A study whose correlations are not positive definite: is it an error on the command line that
  names the file, the lines, the study and the eigenvalue and offers ``--exclude`` and
  ``--keep-nonpd``; does ``--keep-nonpd`` keep it for REM with exactly the API's estimates (where
  ``db.matrices()`` warns); is ``--keep-nonpd`` refused with FEM; does ``--exclude`` leave it out?
- Does ``--method FEM`` refuse a study that measured two constructs without reporting their
  correlation, naming every such study and pair with its lines and offering ``--method REM``?
- Does a study without any correlation count in what ``validate`` reports and in what ``run``
  pools (total N), as metaSEM counts it?
- Do typos in the model, ``--variables`` and ``--exclude`` get the model file, the line and the
  closest known name ("did you mean ...?")? Are the library's messages put in the command's
  words (a study by its id, ``--method REM`` rather than ``method='REM'``)?
- Does every message about the model carry the model file and its line number?
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import masem
from masem.cli import main

from conftest import ROOT

TEMPLATE = ROOT / "data" / "template"
MODEL = TEMPLATE / "model.lav"
# Numbers written with full precision by pandas' CSV writer read back to within a few ulps.
CSV_TOL = 1e-12


def _copy(tmp_path: Path, name: str = "my_studies", **edits: tuple[str, str]) -> Path:
    """A copy of the template with ``file=(old, new)`` replacements (old must occur)."""
    folder = tmp_path / name
    shutil.copytree(TEMPLATE, folder)
    for file, (old, new) in edits.items():
        path = folder / f"{file}.csv"
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


def _non_pd(tmp_path: Path) -> Path:
    # r(HPWP, JS) = -.70 next to r(HPWP, PE) = .40 and r(PE, JS) = .55: impossible in one sample,
    # and no other study reports HPWP-JS, so even the mean matrix is impossible there.
    return _copy(tmp_path, correlations=("EX01,HPWP,JS,0.300", "EX01,HPWP,JS,-0.700"))


def _non_pd_poolable(tmp_path: Path) -> Path:
    # r(JS, TP) = -.75 next to r(PE, JS) = .50 and r(PE, TP) = .30 in EX02: impossible, but the
    # n-weighted mean matrix (EX01 reports JS-TP too) stays positive definite, so REM can pool.
    return _copy(tmp_path, correlations=("EX02,JS,TP,0.250", "EX02,JS,TP,-0.750"))


def _flat(text: str) -> str:
    """Messages and reports wrap lines; compare their words."""
    return " ".join(text.split())


# ----------------------------------------------------------------------------------------------
# One report of the studies, printed by both commands
# ----------------------------------------------------------------------------------------------


def test_validate_and_run_print_the_same_report_of_the_studies(tmp_path, capsys) -> None:
    assert main(["validate", str(TEMPLATE), "--model", str(MODEL)]) == 0
    validated = capsys.readouterr().out
    assert main(["run", "--data", str(TEMPLATE), "--model", str(MODEL), "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    ran = capsys.readouterr().out
    block = masem.read_database(TEMPLATE).matrices(["HPWP", "PE", "JS", "TP"]).report()
    assert block in validated and block in ran
    assert "studies for HPWP, PE, JS, TP:\n  kept:      3 of 3 studies, N = 525\n  dropped:   none" in block
    assert "11 of 18 study-by-pair correlations reported (61%), 7 missing" in _flat(block)
    assert "1 correlation not reported between two constructs the study measured: EX03 (HPWP-TP)" in _flat(block)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("PE ~ a*HPWP\nJS ~ b*pe\n", r"model\.lav, line 2: 'pe' \(did you mean 'PE'\?\): not a construct"),
        ("PE ~ a*HPWP\nTPP ~ b*PE\nTPP ~~ PE\n", r"model\.lav, lines 2, 3: 'TPP' \(did you mean 'TP'\?\)"),
        ("PE ~ a*HPWP\nJS ~~~ PE\n", r"model\.lav, line 2: "),
    ],
)
def test_validate_with_a_broken_model_prints_no_summary(tmp_path, capsys, model, expected) -> None:
    path = tmp_path / "model.lav"
    path.write_text(model, encoding="utf-8")
    assert main(["validate", str(TEMPLATE), "--model", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # not "a valid study database": the folder and model do not fit
    assert captured.err.startswith(f"masem validate: error: {path}")
    assert re.search(expected, captured.err)


def test_a_pair_no_study_reports_names_the_model_lines(tmp_path, capsys) -> None:
    folder = _copy(tmp_path, correlations=("EX01,HPWP,TP,0.150,248\n", ""))
    assert main(["validate", str(folder), "--model", str(MODEL)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    # HPWP is on lines 7, 8 and 13 of the model, TP on lines 9 and 11.
    assert f"{MODEL}: no study reports the correlation of HPWP-TP (lines 7, 8, 9, 11, 13)" in captured.err


def test_a_model_message_from_stage_2_names_the_file(tmp_path, capsys) -> None:
    path = tmp_path / "unidentified.lav"
    path.write_text("PE ~ HPWP + JS + TP\nJS ~ TP\nTP ~ JS\nHPWP ~~ 1*HPWP\n", encoding="utf-8")
    assert main(["run", "--data", str(TEMPLATE), "--model", str(path), "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err  # numerical notes of stage 1 come first
    assert f"\nmasem run: error: {path}: " in err and "identified" in err


# ----------------------------------------------------------------------------------------------
# Studies that are not positive definite
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_non_positive_definite_study_is_an_error_with_the_options_to_go_on(tmp_path, capsys, command) -> None:
    folder = _non_pd(tmp_path)
    args = (["validate", str(folder), "--model", str(MODEL)] if command == "validate" else
            ["run", "--data", str(folder), "--model", str(MODEL), "--out", str(tmp_path / "o"), "--no-progress"])
    assert main(args) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and not (tmp_path / "o").exists()
    message = _flat(captured.err)
    assert f"not positive definite: EX01 (HPWP, PE, JS, TP: smallest eigenvalue -0.1101; {folder}/correlations.csv, lines 2-7)" in message
    assert "add --exclude EX01" in message and "add --keep-nonpd" in message


def test_keep_nonpd_gives_the_api_estimates_and_says_so(tmp_path, capsys) -> None:
    folder = _non_pd_poolable(tmp_path)
    out = tmp_path / "o"
    assert main(["run", "--data", str(folder), "--model", str(MODEL), "--out", str(out), "--no-progress",
                 "--keep-nonpd"]) == 0
    summary = _flat(capsys.readouterr().out)
    assert "kept although not positive definite (--keep-nonpd): EX02" in summary
    assert "1 study whose correlations cannot come from one sample: EX02 (PE, JS, TP: smallest eigenvalue -0.05619" in summary
    # The API: the same study, kept, with a warning that names it.
    database = masem.read_database(folder)
    with pytest.warns(masem.ConvergenceWarning, match="EX02 .*smallest eigenvalue -0.05619"):
        studies = database.matrices(["HPWP", "PE", "JS", "TP"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)  # tau2 on its bound, non-PD notes
        stage1 = masem.tssem1(dict(zip(studies.study_ids, studies.matrices)), studies.n)
    written = pd.read_csv(out / "stage1_pooled.csv", index_col=0)
    np.testing.assert_allclose(written.to_numpy(), stage1.pooled.to_numpy(), rtol=0, atol=CSV_TOL)


def test_keep_nonpd_is_refused_with_fem_and_exclude_leaves_the_study_out(tmp_path, capsys) -> None:
    folder = _non_pd_poolable(tmp_path)
    base = ["run", "--data", str(folder), "--model", str(MODEL), "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "a"), "--keep-nonpd", "--method", "FEM"]) == 1
    assert "--keep-nonpd works with --method REM only" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "b"), "--exclude", "EX02"]) == 0
    out = _flat(capsys.readouterr().out)
    assert "excluded: EX02 (--exclude)" in out and "kept: 2 of 2 studies, N = 345" in out
    assert "stage 1 (REM): 2 studies, N = 345" in out
    # Kept, a study that makes even the mean matrix impossible: the library's message, in the
    # command's words (the study by its id).
    base[2] = str(_non_pd(tmp_path / "other"))
    assert main([*base, "--out", str(tmp_path / "c"), "--keep-nonpd"]) == 1
    err = capsys.readouterr().err
    assert "study 'EX01'" in err and "matrices[" not in err


# ----------------------------------------------------------------------------------------------
# Fixed effects and "measured, correlation not reported"
# ----------------------------------------------------------------------------------------------


def test_fem_names_every_study_with_a_correlation_not_reported(tmp_path, capsys) -> None:
    # EX02 also measured HPWP (with PE), so HPWP-JS and HPWP-TP go unreported there too.
    folder = _copy(tmp_path, correlations=("EX02,PE,JS,0.500,180", "EX02,HPWP,PE,0.420,180\nEX02,PE,JS,0.500,180"))
    assert main(["validate", str(folder), "--model", str(MODEL), "--method", "FEM"]) == 1
    captured = capsys.readouterr()
    message = _flat(captured.err)
    assert captured.out == ""
    assert "--method FEM needs every correlation between the constructs a study measured, but 2 studies leave one out" in message
    assert f"EX02 ({folder}/correlations.csv, lines 8-11) does not report r(HPWP, JS), r(HPWP, TP)" in message
    assert f"EX03 ({folder}/correlations.csv, lines 12-13) does not report r(HPWP, TP)" in message
    assert "Use --method REM" in message and "--exclude EX02 EX03" in message
    assert "method='REM'" not in message and "matrices[" not in message  # no Python on the command line
    # REM uses what each study reports.
    assert main(["validate", str(folder), "--model", str(MODEL)]) == 0


# ----------------------------------------------------------------------------------------------
# A study without any correlation
# ----------------------------------------------------------------------------------------------


def _with_empty_study(tmp_path: Path) -> Path:
    folder = _copy(tmp_path, studies=(",1,95\n", ",1,95\nEX04,Example study 4 (fictitious),2020,USA,"
                                      "individualist,service,hotel,other,overall,1,60\n"))
    (folder / "measured.csv").write_text("study_id,variable\nEX04,PE\nEX04,JS\n", encoding="utf-8")
    return folder


def test_validate_counts_a_study_without_correlations(tmp_path, capsys) -> None:
    folder = _with_empty_study(tmp_path)
    assert main(["validate", str(folder), "--model", str(MODEL)]) == 0
    out = _flat(capsys.readouterr().out)
    assert "4 independent samples, total N = 585" in out and "1 without any correlation" in out
    assert "kept: 4 of 4 studies, N = 585; 1 study without any correlation among these variables (EX04)" in out
    assert "measured without a correlation: 2" in out


def test_run_pools_a_study_without_correlations_into_the_total_n(tmp_path, capsys) -> None:
    folder = _with_empty_study(tmp_path)
    assert main(["run", "--data", str(folder), "--model", str(MODEL), "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    assert "stage 1 (REM): 4 studies, N = 585" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# Typos on the command line
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--exclude", "ex02"], "--exclude: 'ex02' (did you mean 'EX02'?) is not a study_id of studies.csv"),
        (["--variables", "HPWP", "PE", "JS", "TP", "Tp"], "--variables: 'Tp' (did you mean 'TP'?) is not a construct"),
        (["--exclude", "EX01", "EX02", "EX03"], "--exclude leaves no study"),
    ],
)
def test_command_line_typos_get_the_closest_name(tmp_path, capsys, extra, expected) -> None:
    assert main(["run", "--data", str(TEMPLATE), "--model", str(MODEL), "--out", str(tmp_path / "o"),
                 "--no-progress", *extra]) == 1
    assert expected in capsys.readouterr().err


def test_library_messages_are_put_in_the_command_line_words() -> None:
    from masem.cli import command_line_words

    text = "matrices[61] ('S062') measured 'JS' and 'OC' ...; use method='REM' or intervals='wald'"
    assert command_line_words(text) == "study 'S062' measured 'JS' and 'OC' ...; use --method REM or --intervals wald"
