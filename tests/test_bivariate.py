"""The bivariate and publication-bias tables: do they assemble the estimators' results correctly
(each column equals what the underlying function gives for that relation) and refuse bad requests?"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

import masem
from masem import plots
from conftest import ROOT

DB = masem.read_database(ROOT / "data" / "individual")


def test_bivariate_table_matches_the_estimators() -> None:
    table = masem.bivariate_table(DB, "PE", ["JS", "TP"]).set_index("code")
    pair = DB.pair("PE", "JS")
    hs = masem.hunter_schmidt(pair["r"], pair["n"], rxx=pair["rxx"], ryy=pair["ryy"])
    z = masem.escalc("ZCOR", pair["r"], pair["n"])
    re = masem.meta(z["yi"], z["vi"], method="REML")
    # Same computation, so equal to rounding.
    assert table.loc["JS", "k"] == len(pair) and table.loc["JS", "N"] == pair["n"].sum()
    assert table.loc["JS", "rho"] == pytest.approx(hs.rho, abs=1e-12)
    assert table.loc["JS", "I2"] == pytest.approx(re.I2, abs=1e-12)
    assert (table["rho"].abs() > table["r_mean"].abs()).all()  # correction raises |r|


def test_effect_sizes_are_fisher_z_of_the_pair() -> None:
    data = masem.effect_sizes(DB, "PE", "CSAT")
    np.testing.assert_allclose(data["yi"], np.arctanh(data["r"]), rtol=1e-12)
    np.testing.assert_allclose(data["vi"], 1 / (data["n"] - 3), rtol=1e-12)


def test_bias_table_finds_the_built_in_small_study_effect() -> None:
    table = masem.bias_table(DB, "PE", ["TP", "OC"]).set_index("relation")
    # The simulated file drawer acts on PE-TP only (data/README.md).
    assert table.loc["PE-TP", "egger_p"] < 0.05 and table.loc["PE-OC", "egger_p"] > 0.05
    assert table.loc["PE-TP", "r_trimfill"] < table.loc["PE-TP", "r_RE"]


def test_tables_refuse_bad_requests() -> None:
    with pytest.raises(masem.DataError, match="non-empty list"):
        masem.bivariate_table(DB, "PE", "JS")
    with pytest.raises(masem.DataError, match="non-empty list"):
        masem.bias_table(DB, "PE", [])
    with pytest.raises(masem.DataError, match="at least 2"):
        masem.bivariate_table(DB.subset(industry="other"), "HPWP", ["SPS"])  # one study


def test_correction_plot() -> None:
    table = masem.bivariate_table(DB, "PE", ["JS", "TP"])
    ax = plots.correction_plot(table, "Correction")
    assert ax.get_title() == "Correction" and len(ax.collections) == 3
    plt.close("all")
    with pytest.raises(masem.DataError, match="lacks the column"):
        plots.correction_plot(table.drop(columns="rho"), "t")
