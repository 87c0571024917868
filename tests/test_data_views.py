"""Views of a study database for sensitivity analyses: ``StudyDatabase.subset`` and
``StudyDatabase.matrices(corrected=True)``.

Questions answered:
- Does ``subset`` keep exactly the studies asked for (by id, by exclusion, by moderator values),
  carry their correlations and reliabilities along, keep the codebook, and leave the original alone?
- Does it refuse unknown ids, columns and values, and an empty result, with a message naming them?
- Does ``corrected=True`` divide each correlation by sqrt(rxx ryy) with the study's own alphas, and
  impute a missing alpha with the n-weighted mean alpha of the construct (Hunter & Schmidt, 2004)?
- Does it refuse a construct without any alpha and a corrected r outside (-1, 1)?
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import masem
from test_data import make_db as make_folder


def make_db(tmp_path, **files) -> masem.StudyDatabase:
    return masem.read_database(make_folder(tmp_path, **files))


def test_subset_by_moderator_keeps_studies_and_their_rows(tmp_path) -> None:
    db = make_db(tmp_path)
    service = db.subset(industry="service")
    assert service.studies["study_id"].tolist() == ["S1", "S3"]
    assert set(service.correlations["study_id"]) == {"S1", "S3"}
    assert set(service.reliabilities["study_id"]) == {"S1"}
    pd.testing.assert_frame_equal(service.constructs, db.constructs)
    assert len(db.studies) == 3  # the original is untouched


def test_subset_by_ids_exclusion_and_lists_of_values(tmp_path) -> None:
    db = make_db(tmp_path)
    assert db.subset(["S2", "S3"]).studies["study_id"].tolist() == ["S2", "S3"]
    assert db.subset(exclude=["S1"]).studies["study_id"].tolist() == ["S2", "S3"]
    assert db.subset(industry=["service", "other"], exclude=["S3"]).studies["study_id"].tolist() == ["S1", "S2"]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"studies": ["S9"]}, ["unknown study id", "S9"]),
        ({"exclude": "S1"}, ["list of study ids", "S1"]),
        ({"sector": "service"}, ["unknown moderator column", "sector", "industry"]),
        ({"industry": "mining"}, ["industry = 'mining'", "other", "service"]),
        ({"studies": ["S1"], "exclude": ["S1"]}, ["no study is left"]),
    ],
)
def test_subset_refuses_bad_requests(tmp_path, kwargs, words) -> None:
    db = make_db(tmp_path)
    with pytest.raises(masem.DataError) as err:
        db.subset(**kwargs)
    for word in words:
        assert word in str(err.value)


def test_corrected_matrices_use_own_alphas_and_weighted_mean_imputation(tmp_path) -> None:
    db = make_db(tmp_path)
    raw = db.matrices(["A", "B"])
    ab = db.matrices(["A", "B"], corrected=True)
    assert ab.corrected and not raw.corrected
    # S1 reports alpha for A (.85) and B (.80) but not for C; C has no alpha anywhere.
    with pytest.raises(masem.DataError, match="no study reports an alpha for C"):
        db.matrices(["A", "B", "C"], corrected=True)
    s1 = ab.matrices[0].to_numpy()
    assert s1[0, 1] == pytest.approx(0.30 / np.sqrt(0.85 * 0.80), abs=1e-12)
    # S2 reports no alpha for A or B: each is the n-weighted mean over reporting studies (only S1).
    s2 = ab.matrices[1].to_numpy()
    assert s2[0, 1] == pytest.approx(0.35 / np.sqrt(0.85 * 0.80), abs=1e-12)
    assert np.array_equal(np.diag(s1), [1.0, 1.0])
    assert raw.matrices[0].iloc[0, 1] == 0.30  # the uncorrected view is unchanged


def test_imputed_alpha_is_weighted_by_sample_size(tmp_path) -> None:
    reliabilities = "study_id,variable,alpha\nS1,A,0.90\nS2,A,0.60\nS1,B,0.80\nS2,B,0.80\nS3,B,0.80\n"
    correlations = "study_id,var1,var2,r,n\nS1,A,B,0.30,100\nS2,A,B,0.35,50\nS3,A,B,0.20,80\n"
    db = make_db(tmp_path, reliabilities=reliabilities, correlations=correlations)
    s3 = db.matrices(["A", "B"], corrected=True).matrices[2].to_numpy()
    mean_a = (100 * 0.90 + 50 * 0.60) / 150
    assert s3[0, 1] == pytest.approx(0.20 / np.sqrt(mean_a * 0.80), abs=1e-12)


def test_corrected_value_outside_the_unit_interval_is_refused(tmp_path) -> None:
    reliabilities = "study_id,variable,alpha\nS1,A,0.30\nS1,B,0.30\n"
    db = make_db(tmp_path, reliabilities=reliabilities)
    with pytest.raises(masem.DataError) as err:
        db.matrices(["A", "B"], corrected=True)
    message = str(err.value)
    assert "study 'S1'" in message and "r = 0.300" in message and "outside (-1, 1)" in message


def test_corrected_must_be_a_boolean(tmp_path) -> None:
    with pytest.raises(masem.DataError, match="corrected must be True or False"):
        make_db(tmp_path).matrices(["A", "B"], corrected="yes")
