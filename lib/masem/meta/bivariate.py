"""The bivariate table of a meta-analysis: one row per relation of a focal construct.

Seibert, Wang & Courtright (2011, Tables 2-3) report, for every antecedent and consequence of
empowerment, the number of samples, the total N, the sample-size-weighted mean observed
correlation, the correlation corrected for unreliability with its confidence and credibility
intervals, and the heterogeneity. :func:`bivariate_table` builds that table from a
:class:`~masem.data.StudyDatabase`: the Hunter-Schmidt columns come from
:func:`masem.meta.psychometric.hunter_schmidt`, and ``I2`` from a random-effects model on Fisher's z
(:func:`masem.meta`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from masem.data import StudyDatabase
from masem.effects import r_to_z, z_to_r
from masem.errors import DataError, relabel_notes
from masem.meta.bias import egger, failsafe_n, pet_peese, trim_and_fill
from masem.meta.psychometric import hunter_schmidt
from masem.meta.univariate import escalc, meta


def effect_sizes(
    database: StudyDatabase, var1: str, var2: str, measure: str = "ZCOR"
) -> pd.DataFrame:
    """Every study reporting ``var1``-``var2`` (see :meth:`StudyDatabase.pair`) with its effect
    size.

    Parameters
    ----------
    database : StudyDatabase
        The studies.
    var1, var2 : str
        The two construct codes of the relation.
    measure : str, default "ZCOR"
        The effect size of :func:`masem.escalc` (``"ZCOR"``: Fisher's z, ``"COR"``: r).

    Returns
    -------
    DataFrame
        The rows of :meth:`~masem.data.StudyDatabase.pair` (study, r, n, alphas, moderators)
        with the columns ``yi`` and ``vi`` of :func:`masem.escalc` appended.

    Examples
    --------
    >>> import masem
    >>> db = masem.example_data("Becker92").database()
    >>> data = effect_sizes(db, "Math", "Spatial")
    >>> list(data.columns[-2:]), len(data)
    (['yi', 'vi'], 6)
    """
    pair = database.pair(var1, var2)
    return pair.join(escalc(measure, pair["r"], pair["n"]))


def bias_table(
    database: StudyDatabase, focal: str, others: Sequence[str], method: str = "REML"
) -> pd.DataFrame:
    """Publication-bias diagnostics for each relation of ``focal``, one row per relation.

    Random-effects model on Fisher's z (:func:`masem.meta`), then Egger's regression test in
    metafor's default form and the classical form (Egger et al., 1997), trim-and-fill (L0;
    Duval & Tweedie, 2000), PET-PEESE (Stanley & Doucouliagos, 2014) and fail-safe N (Rosenthal,
    1979; Orwin, 1983, target r = .10). Estimates are back-transformed to r.

    Parameters
    ----------
    database : StudyDatabase
        The studies.
    focal : str
        The construct code every relation shares.
    others : sequence of str
        The constructs paired with ``focal``, one row each.
    method : str, default "REML"
        The tau2 estimator of :func:`masem.meta`.

    Returns
    -------
    DataFrame
        ``relation``, ``k``, ``r_RE``, ``egger_z``, ``egger_p``, ``egger_lm_p``, ``trimfill_k0``,
        ``trimfill_side``, ``r_trimfill``, ``PET_PEESE``, ``r_PET_PEESE``, ``failsafe_Rosenthal``,
        ``failsafe_Orwin``.

    Examples
    --------
    >>> import masem
    >>> db = masem.example_data("Becker92").database()
    >>> table = bias_table(db, "Math", ["Spatial", "Verbal"])
    >>> table["relation"].tolist()
    ['Math-Spatial', 'Math-Verbal']
    """
    if isinstance(others, str) or not isinstance(others, Sequence) or len(others) == 0:
        raise DataError(f"others must be a non-empty list of construct codes, got {others!r}")
    rows = []
    for other in others:
        data = effect_sizes(database, focal, other)
        with relabel_notes(f"{focal}-{other}"):
            fit = meta(data["yi"], data["vi"], method=method, labels=list(data["study_id"]))
            rma_test, lm_test = egger(fit, model="rma"), egger(fit, model="lm")
            filled, pp = trim_and_fill(fit), pet_peese(fit)
        rows.append(
            {
                "relation": f"{focal}-{other}",
                "k": fit.k,
                "r_RE": float(z_to_r(fit.estimate)),
                "egger_z": rma_test.statistic,
                "egger_p": rma_test.p,
                "egger_lm_p": lm_test.p,
                "trimfill_k0": filled.k0,
                "trimfill_side": filled.side,
                "r_trimfill": float(z_to_r(filled.result.estimate)),
                "PET_PEESE": pp.chosen,
                "r_PET_PEESE": float(z_to_r(pp.estimate)),
                "failsafe_Rosenthal": failsafe_n(data["yi"], data["vi"], method="Rosenthal").n,
                "failsafe_Orwin": failsafe_n(
                    data["yi"], data["vi"], method="Orwin", target=float(r_to_z(0.10))
                ).n,
            }
        )
    return pd.DataFrame(rows)


def bivariate_table(
    database: StudyDatabase,
    focal: str,
    others: Sequence[str],
    method: str = "REML",
    credibility: float = 0.80,
    level: float = 0.95,
) -> pd.DataFrame:
    """Bivariate meta-analysis of ``focal`` with each construct in ``others``.

    Parameters
    ----------
    database : StudyDatabase
        The study database (:func:`masem.read_database`).
    focal : str
        Construct code every relation involves (e.g. ``"PE"``).
    others : sequence of str
        Construct codes to relate to ``focal``, in the order of the rows.
    method : str
        tau2 estimator of the random-effects model behind ``I2`` (see :func:`masem.meta`).
    credibility, level : float
        Coverage of the credibility and confidence intervals.

    Returns
    -------
    DataFrame
        One row per construct: ``code``, ``name``, ``k``, ``N``, ``r_mean`` (n-weighted mean
        observed r), ``rho`` (corrected for unreliability in both measures), ``rho_se``,
        ``ci_lower``/``ci_upper`` (of rho), ``cred_lower``/``cred_upper`` (credibility interval of
        rho), ``sd_rho``, ``I2`` (percent, random effects on Fisher's z) and ``correction`` (the
        Hunter-Schmidt method used: individual corrections or artifact distributions).

    References
    ----------
    Schmidt, F. L., & Hunter, J. E. (2015). *Methods of meta-analysis* (3rd ed.). Sage.
    Seibert, S. E., Wang, G., & Courtright, S. H. (2011). Antecedents and consequences of
    psychological and team empowerment in organizations: A meta-analytic review. *Journal of
    Applied Psychology*, 96(5), 981-1003.

    Examples
    --------
    >>> import masem
    >>> import pandas as pd
    >>> studies = pd.DataFrame({"study_id": ["A", "B", "C"], "n": [100, 200, 150]})
    >>> correlations = pd.DataFrame({"study_id": ["A", "B", "C"], "var1": "X", "var2": "Y",
    ...                              "r": [0.30, 0.25, 0.40]})
    >>> constructs = pd.DataFrame({"code": ["X", "Y"], "name": ["Practices", "Performance"]})
    >>> alphas = pd.DataFrame({"study_id": ["A", "A", "B", "B", "C", "C"],
    ...                        "variable": ["X", "Y"] * 3,
    ...                        "alpha": [0.80, 0.85, 0.90, 0.80, 0.75, 0.80]})
    >>> db = masem.StudyDatabase.from_frames(studies, correlations, constructs, alphas)
    >>> masem.bivariate_table(db, "X", ["Y"])[["k", "N", "r_mean", "rho"]].round(3)
       k    N  r_mean    rho
    0  3  450   0.311  0.376
    """
    if isinstance(others, str) or not isinstance(others, Sequence) or len(others) == 0:
        raise DataError(f"others must be a non-empty list of construct codes, got {others!r}")
    names = database.constructs.set_index("code")["name"]
    rows = []
    for other in others:
        pair = database.pair(focal, other)
        if len(pair) < 2:
            raise DataError(
                f"only {len(pair)} study reports the correlation of {focal} and {other}; "
                "a meta-analysis needs at least 2. Leave that construct out of `others`."
            )
        hs = hunter_schmidt(
            pair["r"],
            pair["n"],
            rxx=pair["rxx"],
            ryy=pair["ryy"],
            labels=list(pair["study_id"]),
            credibility=credibility,
            level=level,
        )
        z = escalc("ZCOR", pair["r"], pair["n"])
        with relabel_notes(f"{focal}-{other}"):
            random_effects = meta(z["yi"], z["vi"], method=method, level=level)
        rows.append(
            {
                "code": other,
                "name": names.get(other, other),
                "k": hs.k,
                "N": hs.n_total,
                "r_mean": hs.r_mean,
                "rho": hs.rho,
                "rho_se": hs.rho_se,
                "ci_lower": hs.rho_ci_lower,
                "ci_upper": hs.rho_ci_upper,
                "cred_lower": hs.rho_cred_lower,
                "cred_upper": hs.rho_cred_upper,
                "sd_rho": hs.sd_rho,
                "I2": random_effects.I2,
                "correction": hs.method,
            }
        )
    return pd.DataFrame(rows)
