"""The study-database loader (masem.data): does it accept good data and refuse bad data clearly?

Questions answered, one per test (or parametrised group):
- Does a small valid database load, with typed, ordered tables?
- Does ``matrices()`` give p x p frames in the requested order, NaN for unreported cells, a unit
  diagonal for measured and a NaN diagonal for unmeasured variables, and honour ``min_pairs``?
- Does ``pair_counts()`` count studies and participants per pair?
- Does every kind of bad input raise ``masem.DataError`` (a ValueError) whose message names the
  file, the line, the study, the value and what to do? (missing folder / file / column, empty
  file, header only, wrong encoding, duplicated pair in either order, r outside (-1, 1), r = +-1,
  r not a number, n not a whole number, n too small, n not above the variables measured, unknown
  study, unknown construct, reliability outside (0, 1], duplicated ids)
- Is a study whose correlations are not positive definite (complete, or a complete triple when
  some are unreported) read, kept by ``matrices()`` with a warning that names it, its eigenvalue
  and its lines, and recorded in ``selection.nonpd``?
- Are bad arguments to ``matrices()`` refused, and ``from_frames`` validated like files?
- Do the bundled databases load, and do they survive a write / read round trip byte for byte
  (their metadata.json, which says they are simulated, included)?
- Are inputs left untouched: files on disk, the variables list, and the tables handed out?
"""

from __future__ import annotations

import copy
import hashlib
import warnings

import numpy as np
import pandas as pd
import pytest

import masem
from masem.data import StudyDatabase, read_database, write_database
from conftest import ROOT

CONSTRUCTS = "code,name\nA,Alpha\nB,Beta\nC,Gamma\nD,Delta\n"
STUDIES = "study_id,n,industry\nS1,100,service\nS2,50,other\nS3,80,service\n"
CORRELATIONS = (
    "study_id,var1,var2,r,n\n"
    "S1,A,B,0.30,100\n"  # line 2
    "S1,A,C,0.20,100\n"  # line 3
    "S1,B,C,0.25,100\n"  # line 4
    "S2,A,B,0.35,50\n"  # line 5
    "S2,B,D,0.10,50\n"  # line 6
    "S3,C,D,-0.15,80\n"  # line 7
)
RELIABILITIES = "study_id,variable,alpha\nS1,A,0.85\nS1,B,0.80\nS2,D,0.75\n"
BUNDLED = [ROOT / "data" / "individual", ROOT / "data" / "team"]


def make_db(tmp_path, **files):
    """Write a small database; keyword arguments replace a file's text (None = leave the file out)."""
    texts = {
        "constructs": CONSTRUCTS,
        "studies": STUDIES,
        "correlations": CORRELATIONS,
        "reliabilities": RELIABILITIES,
    }
    texts.update(files)
    folder = tmp_path / "db"
    folder.mkdir()
    for name, text in texts.items():
        if text is None:
            continue
        path = folder / f"{name}.csv"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", newline="")
    return folder


def error_of(folder) -> str:
    with pytest.raises(masem.DataError) as info:
        read_database(folder)
    assert isinstance(info.value, ValueError)
    return str(info.value)


# ----------------------------------------------------------------------------------------------
# A valid database
# ----------------------------------------------------------------------------------------------
def test_small_database_loads_with_types_and_order(tmp_path):
    db = read_database(make_db(tmp_path))
    assert list(db.studies["study_id"]) == ["S1", "S2", "S3"]
    assert db.studies["n"].dtype == np.int64
    assert db.correlations["r"].dtype == np.float64
    assert db.correlations["r"].tolist() == [0.30, 0.20, 0.25, 0.35, 0.10, -0.15]
    assert db.reliabilities["alpha"].tolist() == [0.85, 0.80, 0.75]
    assert list(db.constructs["code"]) == ["A", "B", "C", "D"]
    assert "studies=3" in repr(db) and "correlations=6" in repr(db)
    summary = db.summary()
    assert summary.set_index("code").loc["A", "k"] == 2
    assert summary.set_index("code").loc["A", "n"] == 150


def test_reliabilities_file_is_optional(tmp_path):
    db = read_database(make_db(tmp_path, reliabilities=None))
    assert db.reliabilities.empty
    assert list(db.reliabilities.columns) == ["study_id", "variable", "alpha"]


def test_matrices_order_nan_pattern_and_diagonal(tmp_path):
    db = read_database(make_db(tmp_path))
    out = db.matrices(["B", "A", "D"])
    # S3 measures only D among the requested variables: no pair, so it is dropped.
    assert out.study_ids == ["S1", "S2"]
    assert out.n.tolist() == [100, 50]
    assert out.n.dtype.kind == "i"
    s1, s2 = out.matrices
    for m in out.matrices:
        assert list(m.index) == ["B", "A", "D"] and list(m.columns) == ["B", "A", "D"]
        np.testing.assert_array_equal(m.to_numpy(), m.to_numpy().T)
    assert s1.loc["B", "A"] == 0.30
    assert np.isnan(s1.loc["B", "D"]) and np.isnan(s1.loc["D", "D"])  # D not measured by S1
    assert s1.loc["B", "B"] == 1.0 and s1.loc["A", "A"] == 1.0
    assert s2.loc["D", "B"] == 0.10 and s2.loc["D", "D"] == 1.0
    assert np.isnan(s2.loc["A", "D"])  # measured both, pair not reported
    assert out.summary()["pairs"].tolist() == [1, 2]
    assert "studies=2" in repr(out)


def test_matrices_min_pairs(tmp_path):
    db = read_database(make_db(tmp_path))
    assert db.matrices(["B", "A", "D"], min_pairs=2).study_ids == ["S2"]
    assert db.matrices(["A", "B", "C", "D"], min_pairs=3).study_ids == ["S1"]


def test_pair_counts(tmp_path):
    counts = read_database(make_db(tmp_path)).pair_counts(["A", "B", "D"])
    assert counts.k.loc["A", "B"] == 2 and counts.n.loc["A", "B"] == 150
    assert counts.k.loc["B", "D"] == 1 and counts.n.loc["D", "B"] == 50
    assert counts.k.loc["A", "D"] == 0
    assert counts.k.loc["D", "D"] == 2  # S2 and S3 measure D
    table = counts.summary()[["var1", "var2", "k"]].values.tolist()
    assert table == [["A", "B", 2], ["A", "D", 0], ["B", "D", 1]]


# ----------------------------------------------------------------------------------------------
# Missing, empty and unreadable files
# ----------------------------------------------------------------------------------------------
def test_pair_rows_reliabilities_and_moderators(tmp_path):
    db = read_database(make_db(tmp_path))
    ab = db.pair("A", "B")
    assert ab["study_id"].tolist() == ["S1", "S2"]
    assert ab["r"].tolist() == [0.30, 0.35] and ab["n"].tolist() == [100, 50]
    # S1 reports both alphas; S2 reports neither A nor B.
    assert ab["rxx"].tolist()[0] == 0.85 and ab["ryy"].tolist()[0] == 0.80
    assert ab[["rxx", "ryy"]].iloc[1].isna().all()
    assert ab["industry"].tolist() == ["service", "other"]
    # The reverse order swaps the reliabilities, not the rows.
    ba = db.pair("B", "A")
    assert ba["rxx"].tolist()[0] == 0.80 and ba["r"].tolist() == ab["r"].tolist()


def test_pair_errors(tmp_path):
    db = read_database(make_db(tmp_path))
    with pytest.raises(masem.DataError, match="no study reports the correlation of A and D"):
        db.pair("A", "D")
    with pytest.raises(masem.DataError, match="unknown variable"):
        db.pair("A", "Z")
    with pytest.raises(masem.DataError, match="more than once"):
        db.pair("A", "A")


def test_missing_folder(tmp_path):
    message = error_of(tmp_path / "nowhere")
    assert "nowhere" in message and "folder not found" in message


@pytest.mark.parametrize("name", ["studies", "correlations", "constructs"])
def test_missing_file(tmp_path, name):
    message = error_of(make_db(tmp_path, **{name: None}))
    assert f"{name}.csv" in message and "file not found" in message


def test_missing_column(tmp_path):
    text = CORRELATIONS.replace(",r,", ",rho,")
    message = error_of(make_db(tmp_path, correlations=text))
    assert "correlations.csv" in message and "missing column 'r'" in message and "rho" in message


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_empty_file(tmp_path, text):
    message = error_of(make_db(tmp_path, studies=text))
    assert "studies.csv" in message and "empty" in message


def test_header_only(tmp_path):
    message = error_of(make_db(tmp_path, correlations="study_id,var1,var2,r,n\n"))
    assert "correlations.csv" in message and "no rows" in message


def test_wrong_encoding(tmp_path):
    text = "study_id,n,industry\nS1,100,service\nS2,50,Zürich\nS3,80,service\n".encode("latin-1")
    message = error_of(make_db(tmp_path, studies=text))
    assert "studies.csv" in message and "line 3" in message and "UTF-8" in message and "0xfc" in message


def test_empty_required_cell(tmp_path):
    text = CORRELATIONS.replace("S1,A,C,0.20,100", "S1,A,C,,100")
    message = error_of(make_db(tmp_path, correlations=text))
    assert "correlations.csv, line 3" in message and "'r' is empty" in message


# ----------------------------------------------------------------------------------------------
# Bad values: each message names file, line, study and value
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["S1,A,B,0.31,100", "S1,B,A,0.31,100"])
def test_duplicated_pair_either_order(tmp_path, order):
    message = error_of(make_db(tmp_path, correlations=CORRELATIONS + order + "\n"))
    assert "correlations.csv, line 8" in message and "study 'S1'" in message
    assert "repeats the pair on line 2" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.2", "outside [-1, 1]"), ("-3", "outside [-1, 1]"), ("1", "a perfect correlation"),
     ("-1.0", "a perfect correlation"), ("inf", "outside [-1, 1]")],
)
def test_r_outside_open_interval(tmp_path, value, expected):
    text = CORRELATIONS.replace("S2,B,D,0.10,50", f"S2,B,D,{value},50")
    message = error_of(make_db(tmp_path, correlations=text))
    assert "correlations.csv, line 6" in message and "study 'S2'" in message
    assert f"r(B, D) = {value}" in message and expected in message and "typo" in message


@pytest.mark.parametrize(("value", "hint"), [('"0,35"', "decimal point"), ("high", "not a number")])
def test_r_not_numeric(tmp_path, value, hint):
    text = CORRELATIONS.replace("S2,A,B,0.35,50", f"S2,A,B,{value},50")
    message = error_of(make_db(tmp_path, correlations=text))
    assert "correlations.csv, line 5" in message and "study 'S2'" in message
    assert f"'{value.strip(chr(34))}'" in message and hint in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("100.5", "not a whole"), ("3", "too small"), ("-20", "too small"), ("many", "not a number")],
)
def test_bad_study_sample_size(tmp_path, value, expected):
    message = error_of(make_db(tmp_path, studies=STUDIES.replace("S1,100,", f"S1,{value},")))
    assert "studies.csv, line 2" in message and "S1" in message and value in message and expected in message


def test_bad_pairwise_sample_size(tmp_path):
    text = CORRELATIONS.replace("S3,C,D,-0.15,80", "S3,C,D,-0.15,2")
    message = error_of(make_db(tmp_path, correlations=text))
    assert "correlations.csv, line 7" in message and "study 'S3'" in message and "n = 2" in message


def test_n_must_exceed_variables_measured(tmp_path):
    extra = "S4,A,B,0.1,4\nS4,A,C,0.1,4\nS4,A,D,0.1,4\nS4,B,C,0.1,4\nS4,B,D,0.1,4\nS4,C,D,0.1,4\n"
    message = error_of(make_db(tmp_path, studies=STUDIES + "S4,4,other\n", correlations=CORRELATIONS + extra))
    assert "studies.csv, line 5" in message and "study 'S4'" in message and "n = 4" in message
    assert "4 variables" in message


def test_unknown_study(tmp_path):
    message = error_of(make_db(tmp_path, correlations=CORRELATIONS + "S9,A,B,0.2,60\n"))
    assert "correlations.csv, line 8" in message and "'S9'" in message and "studies.csv" in message


@pytest.mark.parametrize("column", ["var1", "var2"])
def test_unknown_construct_in_correlations(tmp_path, column):
    row = "S3,X_1,A,0.2,80\n" if column == "var1" else "S3,A,X_1,0.2,80\n"
    message = error_of(make_db(tmp_path, correlations=CORRELATIONS + row))
    assert "correlations.csv, line 8" in message and "study 'S3'" in message
    assert f"'{column}' has value 'X_1'" in message and "constructs.csv" in message


def test_same_construct_twice(tmp_path):
    message = error_of(make_db(tmp_path, correlations=CORRELATIONS + "S3,A,A,0.2,80\n"))
    assert "line 8" in message and "both 'A'" in message


def test_unknown_construct_in_reliabilities(tmp_path):
    message = error_of(make_db(tmp_path, reliabilities=RELIABILITIES + "S3,Q,0.8\n"))
    assert "reliabilities.csv, line 5" in message and "study 'S3'" in message and "'Q'" in message


@pytest.mark.parametrize("value", ["0", "-0.2", "1.2", "85"])
def test_reliability_outside_unit_interval(tmp_path, value):
    text = RELIABILITIES.replace("S1,B,0.80", f"S1,B,{value}")
    message = error_of(make_db(tmp_path, reliabilities=text))
    assert "reliabilities.csv, line 3" in message and "study 'S1'" in message
    assert f"= {value}" in message and "(0, 1]" in message


def test_reliability_of_one_is_accepted(tmp_path):
    db = read_database(make_db(tmp_path, reliabilities=RELIABILITIES.replace("0.80", "1")))
    assert db.reliabilities["alpha"].max() == 1.0


def test_duplicated_study_id(tmp_path):
    message = error_of(make_db(tmp_path, studies=STUDIES + "S2,70,other\n"))
    assert "studies.csv, line 5" in message and "'S2'" in message and "line 3" in message


@pytest.mark.parametrize(("row", "expected"), [("A,Again", "repeats"), ("P E,Bad", "variable name")])
def test_bad_construct_codes(tmp_path, row, expected):
    message = error_of(make_db(tmp_path, constructs=CONSTRUCTS + row + "\n"))
    assert "constructs.csv, line 6" in message and expected in message


def test_study_not_positive_definite_is_read_and_flagged_by_matrices(tmp_path):
    text = (
        CORRELATIONS.replace("S1,A,B,0.30", "S1,A,B,0.90")
        .replace("S1,A,C,0.20", "S1,A,C,0.90")
        .replace("S1,B,C,0.25", "S1,B,C,-0.90")
    )
    db = read_database(make_db(tmp_path, correlations=text))  # reading is not the place to decide
    with pytest.warns(masem.ConvergenceWarning) as caught:
        out = db.matrices(["A", "B", "C"])
    message = str(caught[0].message)
    assert "S1 (A, B, C: smallest eigenvalue -0.8" in message and "correlations.csv, lines 2-4" in message
    assert "method='REM'" in message and "exclude=['S1']" in message
    assert "S1" in out.study_ids  # kept: REM uses each correlation, FEM refuses it (masem.tssem1)
    (sid, value, names), = out.selection.nonpd
    assert sid == "S1" and names == ("A", "B", "C")
    assert value == pytest.approx(np.linalg.eigvalsh(out.matrices[0].to_numpy())[0], abs=1e-12)


def test_incomplete_study_with_impossible_triple(tmp_path):
    # S1 measures A, B, C, D with (A, D) unreported; the complete triple A, B, C is impossible.
    text = (
        CORRELATIONS.replace("S1,A,B,0.30", "S1,A,B,0.95")
        .replace("S1,A,C,0.20", "S1,A,C,0.95")
        .replace("S1,B,C,0.25", "S1,B,C,0.10")
        + "S1,B,D,0.2,100\nS1,C,D,0.2,100\n"
    )
    db = read_database(make_db(tmp_path, correlations=text))
    with pytest.warns(masem.ConvergenceWarning, match=r"S1 \(A, B, C: smallest eigenvalue"):
        out = db.matrices(["A", "B", "C", "D"])
    assert out.selection.where["S1"].endswith("correlations.csv, lines 2-4, 8-9")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # without C the study is possible: no warning
        assert db.matrices(["A", "B", "D"]).selection.nonpd == ()


# ----------------------------------------------------------------------------------------------
# Arguments and in-memory tables
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variables", "min_pairs", "expected"),
    [(["A", "Z"], 1, "unknown variable"), (["A", "A"], 1, "more than once"), ("AB", 1, "list of construct"),
     (["A"], 1, "at least two"), (["A", "B"], 0, "min_pairs")],
)
def test_matrices_bad_arguments(tmp_path, variables, min_pairs, expected):
    db = read_database(make_db(tmp_path))
    with pytest.raises(masem.DataError, match=expected):
        db.matrices(variables, min_pairs=min_pairs)


def test_from_frames_validates_like_files(tmp_path):
    db = read_database(make_db(tmp_path))
    correlations = db.correlations
    correlations.loc[3, "r"] = 2.0
    with pytest.raises(masem.DataError, match=r"<correlations frame>, row 3: study 'S2': r\(A, B\) = 2.0"):
        StudyDatabase.from_frames(db.studies, correlations, db.constructs, db.reliabilities)
    rebuilt = StudyDatabase.from_frames(db.studies, db.correlations, db.constructs, db.reliabilities)
    pd.testing.assert_frame_equal(rebuilt.correlations, db.correlations)


# ----------------------------------------------------------------------------------------------
# The bundled data, round trips, and untouched inputs
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("folder", BUNDLED, ids=["individual", "team"])
def test_bundled_database_loads(folder):
    db = read_database(folder)
    codes = list(db.constructs["code"])
    out = db.matrices(codes)
    assert len(out.matrices) == len(db.studies)  # every study reports at least one pair
    assert out.study_ids == list(db.studies["study_id"])
    assert all(m.shape == (len(codes), len(codes)) for m in out.matrices)
    measured = db.correlations.melt(id_vars="study_id", value_vars=["var1", "var2"])
    for sid, m in zip(out.study_ids, out.matrices):
        mine = set(measured.loc[measured["study_id"] == sid, "value"])
        diag = np.diag(m.to_numpy())
        assert {c for c, d in zip(codes, diag) if d == 1} == mine
        assert np.isnan(diag[[c not in mine for c in codes]]).all()


@pytest.mark.parametrize("folder", BUNDLED, ids=["individual", "team"])
def test_write_read_round_trip(tmp_path, folder):
    db = read_database(folder)
    write_database(db, tmp_path / "copy")
    again = read_database(tmp_path / "copy")
    for table in ("studies", "correlations", "reliabilities", "constructs"):
        pd.testing.assert_frame_equal(getattr(again, table), getattr(db, table))
        assert (tmp_path / "copy" / f"{table}.csv").read_bytes() == (folder / f"{table}.csv").read_bytes()
    assert (tmp_path / "copy" / "metadata.json").read_bytes() == (folder / "metadata.json").read_bytes()
    assert again.simulated and dict(again.metadata) == dict(db.metadata)


def fingerprint(folder):
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in folder.iterdir()
    }


def test_inputs_untouched(tmp_path):
    folder = make_db(tmp_path)
    before = fingerprint(folder)
    db = read_database(folder)
    variables = ["D", "A", "B"]
    kept = copy.deepcopy(variables)
    db.matrices(variables)
    db.pair_counts(variables)
    assert variables == kept
    after = fingerprint(folder)
    assert after == before  # nothing written, nothing added
    studies = db.studies
    studies.loc[0, "n"] = 1
    out = db.matrices(["A", "B"])
    out.matrices[0].iloc[0, 1] = 0.99
    assert db.studies.loc[0, "n"] == 100
    assert db.matrices(["A", "B"]).matrices[0].iloc[0, 1] == 0.30
    with pytest.raises(ValueError):
        out.n[0] = 1  # read-only sample sizes


def test_from_frames_does_not_mutate_frames(tmp_path):
    db = read_database(make_db(tmp_path))
    frames = [db.studies, db.correlations, db.constructs, db.reliabilities]
    kept = copy.deepcopy(frames)
    StudyDatabase.from_frames(*frames)
    for frame, original in zip(frames, kept):
        pd.testing.assert_frame_equal(frame, original)
