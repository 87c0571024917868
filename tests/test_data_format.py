"""The study-database format says what metaSEM's matrices say (masem.data, data/template/README.md).

Questions answered, one per test (or parametrised group):
- Does a database without measured.csv keep its old meaning (a study measured the constructs of
  its correlations), and does measured.csv add constructs a study measured without reporting a
  correlation (summary, pair counts, the diagonal of ``matrices()``)?
- Is "measured, correlation not reported" recorded (``selection.unreported``) for the pairs of two
  constructs the study reports correlations of, and only for those (as tssem1 treats them)?
- Is a study with no correlation at all kept by ``matrices()`` with its measured diagonal and
  counted in N (metaSEM counts it), left out with a reason when ``keep_empty=False`` or when
  measured.csv says it measured only other constructs, and named in the report?
- Are studies whose correlations all involve other constructs, or fewer than ``min_pairs``, left
  out with their reason, and does the report count kept studies, N and missing cells?
- Is an alpha of a construct the study did not measure refused with file, line, study and value
  (and accepted once measured.csv lists the construct)?
- Does measured.csv get the loader's checks (unknown study or construct with "did you mean",
  repeated rows, missing columns)?
- Which characters may a study_id hold, and does a bad one get a message naming line and value?
- Do unknown names get the closest known one ("did you mean ...?") in the files, in
  ``matrices()`` and in ``subset()``?
- Does metadata.json say whether the data are simulated (bundled: yes; a user's folder: no),
  survive write / subset, and refuse a malformed file clearly?
- Does tssem1 keep a study without correlations from ``matrices()`` and count it in the total N
  and in I2's typical within-study variance (Higgins & Thompson, 2002), as metaSEM does?
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import masem
from masem.data import read_database, write_database
from masem.effects import olkin_siotani
from test_data import CORRELATIONS, STUDIES, make_db

from conftest import ROOT



def error_of(folder) -> str:
    with pytest.raises(masem.DataError) as info:
        read_database(folder)
    return str(info.value)


# ----------------------------------------------------------------------------------------------
# Which constructs a study measured
# ----------------------------------------------------------------------------------------------
def test_without_measured_csv_a_study_measured_the_constructs_of_its_correlations(tmp_path):
    db = read_database(make_db(tmp_path))
    assert db.measured.empty and list(db.measured.columns) == ["study_id", "variable"]
    assert db.summary().set_index("code")["k"].to_dict() == {"A": 2, "B": 2, "C": 2, "D": 2}
    # S2 reports A-B and B-D: it measured A, B and D, so A-D is measured but not reported.
    out = db.matrices(["A", "B", "D"])
    assert out.selection.unreported == (("S2", "A", "D"),)


def test_measured_csv_adds_constructs_measured_without_a_correlation(tmp_path):
    folder = make_db(tmp_path)
    (folder / "measured.csv").write_text("study_id,variable\nS3,A\nS3,C\n", encoding="utf-8")
    db = read_database(folder)
    assert db.measured.values.tolist() == [["S3", "A"], ["S3", "C"]]
    assert db.summary().set_index("code").loc["A", "k"] == 3  # S1, S2 and S3
    assert db.pair_counts(["A", "C"]).k.loc["A", "A"] == 3
    assert db.pair_counts(["A", "C"]).k.loc["A", "C"] == 1  # measured is not reported
    out = db.matrices(["A", "C", "D"])
    s3 = out.matrices[out.study_ids.index("S3")]
    assert s3.loc["A", "A"] == 1.0 and np.isnan(s3.loc["A", "C"]) and s3.loc["C", "D"] == -0.15
    # A has no correlation here, so S3's A-C and A-D are not "measured, not reported" (tssem1
    # treats a variable without any correlation as not measured).
    assert ("S3", "A", "C") not in db.matrices(["A", "C", "D"]).selection.unreported
    assert "measured=2" in repr(db)


def test_study_without_any_correlation_is_kept_and_counted(tmp_path):
    folder = make_db(tmp_path, studies=STUDIES + "S4,77,other\n")
    (folder / "measured.csv").write_text("study_id,variable\nS4,A\nS4,B\n", encoding="utf-8")
    db = read_database(folder)
    out = db.matrices(["A", "B", "C"])
    assert out.study_ids == ["S1", "S2", "S4"]  # S3 reports only C-D: about other constructs
    assert int(out.n.sum()) == 100 + 50 + 77
    s4 = out.matrices[2].to_numpy()
    # metaSEM's coding: a unit diagonal for the measured variables, nothing else.
    np.testing.assert_array_equal(np.diag(s4), [1.0, 1.0, np.nan])
    assert np.isnan(s4[~np.eye(3, dtype=bool)]).all()
    assert out.selection.without_correlations == ("S4",)
    report = " ".join(out.report().split())  # the report wraps at 100 characters
    assert "3 of 4 studies, N = 227; 1 study without any correlation among these variables (S4)" in report
    assert "as metaSEM counts it" in report
    # Not wanted: left out, and the report says why.
    refused = db.matrices(["A", "B", "C"], keep_empty=False)
    assert refused.study_ids == ["S1", "S2"] and refused.selection.dropped == (
        ("S3", "no correlation among these variables (only with other constructs)"),
        ("S4", "no correlation (keep_empty=False)"),
    )
    # Measured only other constructs (per measured.csv): nothing to say about these variables.
    elsewhere = db.matrices(["C", "D"])
    assert "S4" not in elsewhere.study_ids
    assert ("S4", "no correlation and only other constructs measured (measured.csv)") in (
        elsewhere.selection.dropped
    )
    with pytest.raises(masem.DataError, match="keep_empty must be True or False"):
        db.matrices(["A", "B"], keep_empty="yes")


def test_old_database_with_an_empty_study_keeps_it(tmp_path):
    db = read_database(make_db(tmp_path, studies=STUDIES + "S4,77,other\n"))
    out = db.matrices(["A", "B"])
    assert out.study_ids == ["S1", "S2", "S4"]  # S3 (C-D only) is about other constructs
    assert np.isnan(out.matrices[2].to_numpy()).all()  # nothing known about what it measured
    assert out.selection.dropped == (("S3", "no correlation among these variables (only with other constructs)"),)


def test_report_counts_kept_dropped_and_missing(tmp_path):
    db = read_database(make_db(tmp_path))
    out = db.matrices(["A", "B", "C", "D"], min_pairs=2)
    selection = out.selection
    assert selection.kept == ("S1", "S2") and selection.total_n == 150
    assert selection.dropped == (("S3", "fewer correlations among these variables than min_pairs = 2"),)
    assert (selection.cells_reported, selection.cells_possible) == (5, 12)
    lines = out.report().splitlines()
    assert lines[0] == "studies for A, B, C, D:"
    assert lines[1] == "  kept:      2 of 3 studies, N = 150"
    assert lines[2] == "  dropped:   1 study with fewer correlations among these variables than min_pairs = 2: S3"
    assert "5 of 12 study-by-pair correlations reported (42%), 7 missing" in out.report()
    assert "S2 (A-C, A-D, C-D)" not in out.report() and "S2 (A-D)" in out.report()
    assert lines[-1] == "  not positive definite: none"


# ----------------------------------------------------------------------------------------------
# Reliabilities, measured.csv and study ids
# ----------------------------------------------------------------------------------------------
def test_alpha_of_a_construct_the_study_did_not_measure_is_refused(tmp_path):
    folder = make_db(tmp_path, reliabilities="study_id,variable,alpha\nS1,A,0.85\nS3,B,0.71\n")
    message = error_of(folder)
    assert "reliabilities.csv, line 3: study 'S3': alpha of 'B' = 0.71" in message
    assert "did not measure B" in message and "'S3,B' to measured.csv" in message
    (folder / "measured.csv").write_text("study_id,variable\nS3,B\n", encoding="utf-8")
    assert read_database(folder).reliabilities["alpha"].tolist() == [0.85, 0.71]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("study_id,variable\nS3,A\nS9,B\n", "measured.csv, line 3: measured row: column 'study_id' has value 'S9'"),
        ("study_id,variable\nS3,a\n", "line 2: unknown construct, study 'S3': column 'variable' has value 'a' "
                                       "(did you mean 'A'?)"),
        ("study_id,variable\nS3,A\nS3,A\n", "line 3: study 'S3': 'A' repeats line 2"),
        ("study,variable\nS3,A\n", "missing column 'study_id'"),
    ],
)
def test_measured_csv_is_validated_like_the_other_files(tmp_path, text, expected):
    folder = make_db(tmp_path)
    (folder / "measured.csv").write_text(text, encoding="utf-8")
    assert expected in error_of(folder)


@pytest.mark.parametrize("study_id", ["Smith2019", "12a", "Lee_2020-b", "Müller.2021", "007"])
def test_study_ids_that_are_accepted(tmp_path, study_id):
    studies = STUDIES.replace("S3,80", f"{study_id},80")
    correlations = CORRELATIONS.replace("S3,C,D", f"{study_id},C,D")
    db = read_database(make_db(tmp_path, studies=studies, correlations=correlations))
    assert study_id in db.studies["study_id"].tolist()


@pytest.mark.parametrize(
    ("study_id", "what"),
    [('"Lee,2020"', "contains other characters"), ("Lee 2020", "contains a space"),
     ("-3", "contains other characters"), ("_x", "contains other characters")],
)
def test_study_ids_that_are_refused(tmp_path, study_id, what):
    message = error_of(make_db(tmp_path, studies=STUDIES.replace("S3,80", f"{study_id},80")))
    assert f"studies.csv, line 4: study_id '{study_id.strip(chr(34))}' {what}" in message
    assert "letters, digits, '_', '-' and '.'" in message and "label" in message


# ----------------------------------------------------------------------------------------------
# Did you mean ...?
# ----------------------------------------------------------------------------------------------
def test_unknown_names_get_the_closest_known_one(tmp_path):
    message = error_of(make_db(tmp_path, correlations=CORRELATIONS + "S3,a,B,0.2,80\n"))
    assert "column 'var1' has value 'a' (did you mean 'A'?)" in message
    (tmp_path / "two").mkdir()
    message = error_of(make_db(tmp_path / "two", correlations=CORRELATIONS + "s3,A,B,0.2,80\n"))
    assert "correlations.csv, line 8: correlation row: column 'study_id' has value 's3' (did you mean 'S3'?)" in message
    (tmp_path / "three").mkdir()
    db = read_database(make_db(tmp_path / "three"))
    with pytest.raises(masem.DataError, match=r"unknown variable \['b'\] \('b': did you mean 'B'\?\)"):
        db.matrices(["A", "b"])
    with pytest.raises(masem.DataError, match=r"'s2': did you mean 'S2'\?"):
        db.subset(exclude=["s2"])
    with pytest.raises(masem.DataError, match=r"'industri' \(did you mean 'industry'\?\)"):
        db.subset(industri="service")


# ----------------------------------------------------------------------------------------------
# metadata.json: simulated or not
# ----------------------------------------------------------------------------------------------
def test_bundled_data_are_simulated_a_users_folder_is_not(tmp_path):
    bundled = read_database(ROOT / "data" / "individual")
    assert bundled.simulated and bundled.metadata["source"].startswith("masem.simulate_database")
    assert repr(bundled).endswith("constructs=19, simulated)")
    assert bundled.subset(industry="service").simulated  # a part of it is still simulated
    mine = read_database(make_db(tmp_path))
    assert not mine.simulated and dict(mine.metadata) == {}
    template = read_database(ROOT / "data" / "template")  # copied by users: carries no label
    assert not template.simulated


def test_metadata_round_trip_and_errors(tmp_path):
    db = masem.StudyDatabase.from_frames(
        pd.DataFrame({"study_id": ["S1", "S2"], "n": [120, 80]}),
        pd.DataFrame({"study_id": ["S1", "S2"], "var1": ["A", "A"], "var2": ["B", "B"], "r": [0.3, 0.2]}),
        pd.DataFrame({"code": ["A", "B"], "name": ["Alpha", "Beta"]}),
        metadata={"source": "Smith (2020), Table 2", "simulated": False},
    )
    write_database(db, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "metadata.json").read_text(encoding="utf-8")) == {
        "source": "Smith (2020), Table 2", "simulated": False}
    assert read_database(tmp_path / "out").metadata["source"] == "Smith (2020), Table 2"
    with pytest.raises(TypeError):
        db.metadata["simulated"] = True  # read-only
    (tmp_path / "out" / "metadata.json").write_text('{"simulated": "yes"}', encoding="utf-8")
    assert "metadata.json: 'simulated' must be true or false, got 'yes'" in error_of(tmp_path / "out")
    (tmp_path / "out" / "metadata.json").write_text('{"source": "x",\n}', encoding="utf-8")
    assert "metadata.json, line 2: not valid JSON" in error_of(tmp_path / "out")
    (tmp_path / "out" / "metadata.json").write_text("[1, 2]", encoding="utf-8")
    assert "expected a JSON object" in error_of(tmp_path / "out")


# ----------------------------------------------------------------------------------------------
# What tssem1 makes of a study without correlations
# ----------------------------------------------------------------------------------------------
def _three_studies_and_an_empty_one(tmp_path):
    studies = "study_id,n\nS1,200\nS2,150\nS3,120\nS4,90\nS5,77\n"
    correlations = (
        "study_id,var1,var2,r\n"
        "S1,A,B,0.40\nS1,A,C,0.30\nS1,B,C,0.20\n"
        "S2,A,B,0.50\nS2,A,C,0.25\nS2,B,C,0.35\n"
        "S3,A,B,0.30\nS3,A,C,0.40\nS3,B,C,0.15\n"
        "S4,A,B,0.45\nS4,A,C,0.20\n"
    )
    folder = make_db(tmp_path, studies=studies, correlations=correlations, reliabilities=None,
                     constructs="code,name\nA,a\nB,b\nC,c\n")
    (folder / "measured.csv").write_text("study_id,variable\nS5,A\nS5,B\nS5,C\n", encoding="utf-8")
    return read_database(folder).matrices(["A", "B", "C"])


def test_tssem1_counts_a_study_without_correlations_as_metasem_does(tmp_path):
    studies = _three_studies_and_an_empty_one(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)  # tau2 bounds of a tiny example
        s1 = masem.tssem1(dict(zip(studies.study_ids, studies.matrices)), studies.n)
    assert s1.n_studies == 5 and s1.total_n == 637
    # Higgins & Thompson's (2002) typical within-study variance over all k studies, with the
    # Olkin-Siotani variances at the n-weighted mean matrix (tests/reference/README.md): the
    # empty study's n enters through w_i = n_i / c_jj.
    observed = [m.to_numpy() for m in studies.matrices[:4]]
    weights = np.array(studies.n[:4], dtype=float)
    mean = np.eye(3)
    for i, j in ((1, 0), (2, 0), (2, 1)):
        values = np.array([m[i, j] for m in observed])
        have = ~np.isnan(values)
        mean[i, j] = mean[j, i] = np.average(values[have], weights=weights[have])
    c = np.diag(olkin_siotani(mean, 1.0))
    n = np.asarray(studies.n, dtype=float)
    typical = (len(n) - 1) * c * n.sum() / (n.sum() ** 2 - np.sum(n**2))
    tau2 = s1.summary()["tau2"].to_numpy()
    expected = tau2 / (tau2 + typical)
    # I2 of metaSEM is this ratio; 1e-10 absolute: the same floating-point formula.
    np.testing.assert_allclose(s1.summary()["I2"].to_numpy(), expected, rtol=0, atol=1e-10)
