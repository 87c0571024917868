"""One vocabulary (docs/vocabulary.md): do the results use its names, do the renamed ones still work
for one release, and is the table the conformance tests read well formed?

- test_the_table_maps_every_name_once: the name map parses, and each masem name is in one row;
- test_tidy_tables_use_ci_lower_and_no_dotted_names: every tidy table of the library names its
  interval bounds ``..._lower`` / ``..._upper`` with ``ci_`` (or ``pi_``, ``bc_``, ``cred_``,
  ``RMSEA_``) and has no metaSEM-style dotted column; only ``inspect()`` keeps semopy's columns;
- test_renamed_attributes_and_arguments_warn_and_still_work: ``fitstats``, ``coef`` and
  ``summary(alpha=)`` give the new names' values with a DeprecationWarning.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import masem
import vocabulary

BOUND = re.compile(r"(^|_)(lower|upper)$")
ALLOWED_BOUND = re.compile(r"(^|_)(ci|pi|bc|cred|RMSEA)_(lower|upper)$")


def test_the_table_maps_every_name_once() -> None:
    rows = vocabulary.read()
    names = [name for row in rows for name in row.masem]
    assert len(rows) > 40 and all(row.masem for row in rows)
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    assert vocabulary.metafor("ci_lower") == "ci_lb" and vocabulary.metafor("ci_lower", reference=False) == "ci.lb"
    assert vocabulary.metasem("p-value", reference=False) == "Pr(>|z|)" and vocabulary.metasem("p-value") == "p_value"
    assert vocabulary.lavaan("RMSEA_lower") == "rmsea.ci.lower" and vocabulary.semopy("se") == "Std. Err"
    with pytest.raises(KeyError, match="not in the masem column"):
        vocabulary.metafor("no_such_name")


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """The tidy tables of a small analysis of every kind (Becker92, a few seconds)."""
    ex = masem.example_data("Becker92")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)
        s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
        fit = masem.tssem2(s1, "Math ~ s*Spatial + v*Verbal\nSpatial ~~ Verbal\nsv := s*v")
        boot = masem.indirect(fit, n_boot=100, seed=1, progress=False)
        r = [m.loc["Math", "Spatial"] for m in ex.matrices.values()]
        es = masem.escalc("ZCOR", r, ex.n)
        res = masem.meta(es["yi"], es["vi"])
        mr = masem.meta_regression(es["yi"], es["vi"], pd.DataFrame({"x": np.arange(len(r), dtype=float)}))
        groups = {"a": masem.tssem1(list(ex.matrices.values())[:3], ex.n[:3], method="FEM"),
                  "b": masem.tssem1(list(ex.matrices.values())[3:], ex.n[3:], method="FEM")}
        joint = masem.tssem2_multigroup(groups, "Math ~ s*Spatial + v*Verbal\nSpatial ~~ Verbal")
        from masem.tssem import interval_table

        return {
            "tssem1.summary": s1.summary(),
            "refit.summary": masem.refit(fit, fit.sample_vector).summary(),
            "indirect.summary": boot.summary(),
            "interval_table": interval_table(wald=fit, bootstrap=boot),
            "meta.summary": res.summary(),
            "meta.predict": res.predict(),
            "meta.confint": res.confint(),
            "meta_regression.coefficients": mr.coefficients,
            "by_group": joint.by_group("s"),
            "hunter_schmidt.summary": masem.hunter_schmidt(r, ex.n).summary(),
            "trim_and_fill.summary": masem.trim_and_fill(res).summary(),
            "uni_r.summary": masem.uni_r(ex.matrices, ex.n).summary(),
            "loading_table": masem.loading_table(masem.tssem2(s1, "F =~ Math + Spatial + Verbal")),
        }


def test_tidy_tables_use_ci_lower_and_no_dotted_names(tables) -> None:
    for name, table in tables.items():
        columns = [str(c) for c in table.columns]
        bounds = [c for c in columns if BOUND.search(c)]
        assert all(ALLOWED_BOUND.search(c) for c in bounds), (name, bounds)
        assert not [c for c in columns if "." in c], (name, columns)
    assert {"ci_lower", "ci_upper"} <= set(tables["indirect.summary"].columns)


def test_renamed_attributes_and_arguments_warn_and_still_work() -> None:
    ex = masem.example_data("Becker92")
    r = [m.loc["Math", "Spatial"] for m in ex.matrices.values()]
    es = masem.escalc("ZCOR", r, ex.n)
    res = masem.meta(es["yi"], es["vi"])
    with pytest.warns(DeprecationWarning, match="fitstats is deprecated.*fit_stats"):
        old = res.fitstats
    pd.testing.assert_series_equal(old, res.fit_stats())
    mr = masem.meta_regression(es["yi"], es["vi"], pd.DataFrame({"x": np.arange(len(r), dtype=float)}))
    with pytest.warns(DeprecationWarning, match="coef is deprecated.*coefficients"):
        old = mr.coef
    pd.testing.assert_frame_equal(old, mr.coefficients)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masem.ConvergenceWarning)
        s1 = masem.tssem1(ex.matrices, ex.n, method="FEM")
    with pytest.warns(DeprecationWarning, match=r"summary\(alpha=...\) is deprecated"):
        old = s1.summary(alpha=0.1)
    pd.testing.assert_frame_equal(old, s1.summary(level=0.9))
    with pytest.raises(masem.ModelError, match="level must lie strictly between 0 and 1"):
        s1.summary(level=95)
