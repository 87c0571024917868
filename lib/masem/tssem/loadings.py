"""Factor loadings of a fitted stage-2 model as a tidy table, with intervals and explained variance.

A stage-2 model is fitted to a correlation matrix, so every observed variable has unit variance
and a loading is standardized: with the factor's variance fixed at 1 (the usual way to give a
factor a scale), the loading is the correlation of the indicator with the factor when the
indicator loads on that factor only, and the share of the indicator's variance that the
factors explain (its *communality*, R squared) is one minus its residual variance (Cheung,
2015, ch. 7; Brown, 2015, ch. 4). :func:`loading_intervals` puts the intervals of two fits (e.g.
Wald and profile likelihood) side by side; :func:`attenuated_loadings` gives the loadings that
observed, unreliable scores should show when the true-score loadings are known (Spearman, 1904).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from masem.errors import DataError, ModelError
from masem.tssem.stage2 import TSSEM2Result

__all__ = ["attenuated_loadings", "loading_intervals", "loading_table"]

_COLUMNS = [
    "factor",
    "indicator",
    "label",
    "loading",
    "se",
    "ci_lower",
    "ci_upper",
    "interval",
    "explained",
    "residual",
]


def loading_table(result: TSSEM2Result, indicators: Sequence[str] | None = None) -> pd.DataFrame:
    """Loadings of the observed variables on the latent factors of a stage-2 fit, one row each.

    Parameters
    ----------
    result : TSSEM2Result
        A model with at least one latent factor (``=~``), fitted by :func:`masem.tssem2`.
    indicators : sequence of str, optional
        The observed variables whose loadings to list, in this order. By default every path from
        a latent factor to an observed variable, in the order of the fit; in RAM form a regression
        of an observed outcome on a factor (``JS ~ F``) is such a path too, so pass the
        indicators to leave outcomes out.

    Returns
    -------
    pandas.DataFrame
        Columns ``factor``, ``indicator``, ``label``, ``loading`` (standardized), ``se``,
        ``ci_lower``, ``ci_upper`` (95%, computed as the fit's ``intervals`` say), ``interval``
        (``"wald"`` or ``"profile"``), ``explained`` (the share of the indicator's variance the
        model's factors and predictors explain, 1 - residual variance) and ``residual`` (the
        residual variance: specific variance plus measurement error).

    Raises
    ------
    ModelError
        If ``result`` is not a :func:`masem.tssem2` result, has no latent factor, or an indicator
        named has no loading.

    References
    ----------
    Brown, T. A. (2015). *Confirmatory factor analysis for applied research* (2nd ed.). Guilford.
    Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import numpy as np, pandas as pd
    >>> import masem
    >>> lam = np.array([0.8, 0.7, 0.6])
    >>> R = np.outer(lam, lam); np.fill_diagonal(R, 1.0)
    >>> names = ["x1", "x2", "x3"]
    >>> s1 = SimpleNamespace(pooled=pd.DataFrame(R, names, names), variables=names, total_n=500,
    ...                      vcov=masem.olkin_siotani(R, 500), method="FEM")
    >>> fit = masem.tssem2(s1, "F =~ x1 + x2 + x3\\nF ~~ 1*F")
    >>> loading_table(fit)[["indicator", "loading", "explained"]].round(3)
      indicator  loading  explained
    0        x1      0.8       0.64
    1        x2      0.7       0.49
    2        x3      0.6       0.36
    """
    if not isinstance(result, TSSEM2Result):
        raise ModelError(f"result must be a tssem2() result, got {type(result).__name__}")
    if not result.latent:
        raise ModelError(
            "the model has no latent factor, so it has no loadings; define one with "
            "'F =~ x1 + x2 + ...'"
        )
    table = result.inspect()
    latent, observed = set(result.latent), set(result.variables)
    paths = table[(table["op"] == "~") & table["rval"].isin(latent) & table["lval"].isin(observed)]
    if indicators is None:
        chosen = paths
    else:
        if isinstance(indicators, str):
            raise ModelError(
                f"indicators must be a list of variable names, got the string {indicators!r}"
            )
        wanted = [str(v) for v in indicators]
        missing = [v for v in wanted if v not in set(paths["lval"])]
        if missing:
            raise ModelError(
                f"{missing} load on no factor in this model; variables with loadings: "
                f"{list(dict.fromkeys(paths['lval']))}"
            )
        order = {v: i for i, v in enumerate(wanted)}
        chosen = paths[paths["lval"].isin(order)]
        chosen = chosen.iloc[np.argsort([order[v] for v in chosen["lval"]], kind="stable")]
    residual = np.diag(result.S.to_numpy())
    position = {v: i for i, v in enumerate(result.S.index)}
    res = np.array([residual[position[v]] for v in chosen["lval"]], dtype=float)
    return pd.DataFrame(
        {
            "factor": chosen["rval"].to_numpy(),
            "indicator": chosen["lval"].to_numpy(),
            "label": chosen["label"].to_numpy(),
            "loading": chosen["Estimate"].to_numpy(),
            "se": chosen["Std. Err"].to_numpy(),
            "ci_lower": chosen["ci.lower"].to_numpy(),
            "ci_upper": chosen["ci.upper"].to_numpy(),
            "interval": result.intervals,
            "explained": 1.0 - res,
            "residual": res,
        },
        columns=_COLUMNS,
    )


def loading_intervals(table: pd.DataFrame) -> pd.DataFrame:
    """The loadings of one model with the intervals of several fits side by side, one row each.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`loading_table` results of the same model fitted with different ``intervals``
        (e.g. ``"wald"`` and ``"profile"``), stacked with ``pandas.concat``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``indicator`` in the order of the first fit: ``loading``, then
        ``<interval>_ci_lower`` and ``<interval>_ci_upper`` for each kind of interval in the order
        given,
        then ``explained`` (the share of the indicator's variance the model explains).

    Raises
    ------
    ModelError
        If ``table`` lacks loading_table's columns, is empty, repeats an interval kind for an
        indicator, or its fits disagree on the loadings (they are then not the same model and
        data).

    Examples
    --------
    >>> import pandas as pd
    >>> wald = pd.DataFrame({"indicator": ["x1", "x2"], "loading": [0.8, 0.7],
    ...                      "ci_lower": [0.75, 0.64], "ci_upper": [0.85, 0.76], "interval": "wald",
    ...                      "explained": [0.64, 0.49]})
    >>> profile = wald.assign(ci_lower=[0.74, 0.64], ci_upper=[0.85, 0.77], interval="profile")
    >>> side = loading_intervals(pd.concat([wald, profile]))
    >>> list(side.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['loading', 'wald_ci_lower', 'wald_ci_upper', 'profile_ci_lower', 'profile_ci_upper',
     'explained']
    >>> side.loc["x2", ["loading", "wald_ci_upper", "profile_ci_upper"]].tolist()
    [0.7, 0.76, 0.77]
    """
    if not isinstance(table, pd.DataFrame):
        raise ModelError(
            f"table must be a DataFrame of loading_table() results, got {type(table).__name__}"
        )
    lacking = {"indicator", "loading", "ci_lower", "ci_upper", "interval", "explained"} - set(
        table.columns
    )
    if lacking or table.empty:
        raise ModelError(
            f"table must hold loading_table() rows (lacking {sorted(lacking)}, {len(table)} rows); "
            "stack the loading_table() of each fit with pandas.concat"
        )
    if table.duplicated(["indicator", "interval"]).any():
        repeated = table.loc[table.duplicated(["indicator", "interval"]), ["indicator", "interval"]]
        raise ModelError(
            f"each indicator may appear once per interval kind; repeated: "
            f"{list(map(tuple, repeated.to_numpy()))}. Pass the indicators (loading_table(fit, "
            "indicators)) when an indicator loads on several factors."
        )
    indicators = list(dict.fromkeys(table["indicator"]))
    estimates = table.groupby("indicator", sort=False)["loading"]
    # Wald and profile fits of one model share their point estimates; anything else is two models.
    if (estimates.max() - estimates.min()).max() > 1e-6:
        raise ModelError(
            "the fits give different loadings, so they are not the same model fitted to the same "
            "data; loading_intervals compares intervals of one model"
        )
    out = pd.DataFrame(index=pd.Index(indicators, name="indicator"))
    first = table.drop_duplicates("indicator").set_index("indicator")
    out["loading"] = first["loading"]
    for kind in dict.fromkeys(table["interval"]):
        rows = table[table["interval"] == kind].set_index("indicator")
        out[f"{kind}_ci_lower"] = rows["ci_lower"]
        out[f"{kind}_ci_upper"] = rows["ci_upper"]
    out["explained"] = first["explained"]
    return out


def attenuated_loadings(
    loadings: Mapping[str, float] | pd.Series, reliability: Mapping[str, float] | pd.Series
) -> pd.DataFrame:
    """The loadings observed scores should show, given true-score loadings and reliabilities.

    A loading on a factor with unit variance is the correlation of the indicator with the factor.
    An observed score with reliability ``alpha`` correlates ``sqrt(alpha)`` with its own true
    score, so its loading is the true-score loading times ``sqrt(alpha)`` (Spearman's correction
    for attenuation, run backwards; Spearman, 1904; Schmidt & Hunter, 2015, ch. 3).

    Parameters
    ----------
    loadings : mapping or pandas.Series
        True-score loadings by indicator, each in [-1, 1] (e.g. a simulation's population values).
    reliability : mapping or pandas.Series
        Reliability of each indicator's observed score (e.g. the mean Cronbach's alpha of the
        studies), each in (0, 1]; it must cover every indicator of ``loadings``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``indicator`` in the order of ``loadings``: ``population`` (the true-score
        loading), ``reliability`` and ``expected`` (population x sqrt(reliability)).

    Raises
    ------
    DataError
        If a loading lies outside [-1, 1], a reliability outside (0, 1], a value is missing, or
        an indicator has no reliability.

    References
    ----------
    Spearman, C. (1904). The proof and measurement of association between two things. *American
    Journal of Psychology*, 15, 72-101.
    Schmidt, F. L., & Hunter, J. E. (2015). *Methods of meta-analysis* (3rd ed.). Sage.

    Examples
    --------
    >>> attenuated_loadings({"x1": 0.8, "x2": 0.6}, {"x1": 0.81, "x2": 0.64}).reset_index()
      indicator  population  reliability  expected
    0        x1         0.8         0.81      0.72
    1        x2         0.6         0.64      0.48
    """
    lam = pd.Series(loadings, dtype=float)
    rel = pd.Series(reliability, dtype=float)
    lacking = [v for v in lam.index if v not in rel.index]
    if lacking:
        raise DataError(
            f"no reliability for {lacking}; give one for every indicator of the loadings"
        )
    rel = rel.loc[lam.index]
    bad = lam[~lam.between(-1.0, 1.0)]
    if len(bad):
        raise DataError(
            f"loadings must lie in [-1, 1] (correlations with the factor); got {bad.to_dict()}"
        )
    bad = rel[~((rel > 0.0) & (rel <= 1.0))]
    if len(bad):
        raise DataError(f"reliabilities must lie in (0, 1]; got {bad.to_dict()}")
    out = pd.DataFrame(
        {
            "population": lam.to_numpy(),
            "reliability": rel.to_numpy(),
            "expected": (lam * np.sqrt(rel)).to_numpy(),
        },
        index=pd.Index([str(v) for v in lam.index], name="indicator"),
    )
    return out
