"""Psychometric (Hunter-Schmidt) meta-analysis of correlations.

:func:`hunter_schmidt` pools correlations with sample-size weights, splits the observed variance
into sampling error and true variance, and optionally corrects for unreliability in both
variables, either study by study or with artifact distributions (Schmidt & Hunter, 2015).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from masem._util import check_level, choose
from masem.errors import DataError

__all__ = ["HunterSchmidtResult", "hunter_schmidt"]

_CORRECTIONS = ("auto", "individual", "artifact")


@dataclass(frozen=True, repr=False, eq=False)
class HunterSchmidtResult:
    """Result of :func:`hunter_schmidt`.

    Attributes
    ----------
    method : str
        ``"bare-bones"``, ``"individual"`` (each r corrected with its own reliabilities) or
        ``"artifact distribution"``.
    k, n_total, n_mean : int, int, float
        Number of studies, total and mean sample size.
    r_mean, se, ci_lower, ci_upper : float
        Bare-bones: n-weighted mean observed r, its SE (``sd_obs / sqrt(k)``) and confidence
        interval.
    var_obs, var_e, var_res, sd_obs, sd_res : float
        Bare-bones observed (n-weighted) variance, sampling-error variance, residual variance
        (truncated at 0) and the SDs.
    pct_sampling_error : float
        Percent of the observed variance due to sampling error (capped at 100).
    cred_lower, cred_upper : float
        Bare-bones credibility interval of the (attenuated) population correlations.
    rho, rho_se, rho_ci_lower, rho_ci_upper : float
        Mean true-score correlation, its SE and confidence interval (equal to the bare-bones values
        when ``method == "bare-bones"``).
    var_rho, sd_rho : float
        Variance and SD of the true-score correlations (truncated at 0).
    rho_cred_lower, rho_cred_upper : float
        Credibility interval of the true-score correlations.
    pct_artifacts : float
        Percent of the variance explained by artifacts (capped at 100): sampling error over the
        variance of the corrected correlations (individual), sampling error plus artifact variation
        over the observed variance (artifact distributions), sampling error (bare-bones).
    attenuation : float
        Mean attenuation factor A (1 for bare-bones): n rxx ryy-weighted mean of sqrt(rxx ryy) for
        individual corrections, product of the mean sqrt reliabilities for artifact distributions.
    artifact_cv2 : float or None
        Artifact distributions only: sum of the squared coefficients of variation of the
        attenuation factors (Schmidt & Hunter's compound variance term V).
    credibility, level : float
        Coverage of the credibility and confidence intervals.
    """

    method: str
    k: int
    n_total: int
    n_mean: float
    r_mean: float
    var_obs: float
    var_e: float
    var_res: float
    sd_obs: float
    sd_res: float
    pct_sampling_error: float
    se: float
    ci_lower: float
    ci_upper: float
    cred_lower: float
    cred_upper: float
    rho: float
    rho_se: float
    rho_ci_lower: float
    rho_ci_upper: float
    var_rho: float
    sd_rho: float
    rho_cred_lower: float
    rho_cred_upper: float
    pct_artifacts: float
    attenuation: float
    artifact_cv2: float | None
    credibility: float
    level: float
    _labels: tuple[str, ...]
    _r: tuple[float, ...]
    _n: tuple[int, ...]
    _rxx: tuple[float, ...]
    _ryy: tuple[float, ...]

    @property
    def labels(self) -> list[str]:
        """Study labels in input order."""
        return list(self._labels)

    def studies(self) -> pd.DataFrame:
        """One row per study: label, r, n, rxx, ryy (NaN = not reported) and, for individual
        corrections, the corrected r and its weight n rxx ryy.
        """
        r = np.array(self._r)
        n = np.array(self._n, dtype=float)
        rxx, ryy = np.array(self._rxx), np.array(self._ryy)
        out = pd.DataFrame(
            {"label": self.labels, "r": r, "n": np.array(self._n), "rxx": rxx, "ryy": ryy}
        )
        if self.method == "individual":
            a2 = np.nan_to_num(rxx, nan=1.0) * np.nan_to_num(ryy, nan=1.0)
            out["r_corrected"] = r / np.sqrt(a2)
            out["weight"] = n * a2
        return out

    def summary(self) -> pd.DataFrame:
        """One-row tidy table of the bare-bones and corrected estimates."""
        names = (
            "method",
            "k",
            "n_total",
            "n_mean",
            "r_mean",
            "se",
            "ci_lower",
            "ci_upper",
            "var_obs",
            "var_e",
            "var_res",
            "sd_obs",
            "sd_res",
            "pct_sampling_error",
            "cred_lower",
            "cred_upper",
            "rho",
            "rho_se",
            "rho_ci_lower",
            "rho_ci_upper",
            "var_rho",
            "sd_rho",
            "rho_cred_lower",
            "rho_cred_upper",
            "pct_artifacts",
            "attenuation",
            "artifact_cv2",
            "credibility",
            "level",
        )
        return pd.DataFrame([{name: getattr(self, name) for name in names}])

    def __repr__(self) -> str:
        cred, lev = f"{100 * self.credibility:g}%", f"{100 * self.level:g}%"
        lines = [
            f"HunterSchmidtResult({self.method}: k = {self.k}, N = {self.n_total}, mean n = "
            f"{self.n_mean:.1f})",
            f"  bare-bones: r = {self.r_mean:.4f} (SE {self.se:.4f}, {lev} CI "
            f"[{self.ci_lower:.4f}, "
            f"{self.ci_upper:.4f}]), SD_res = {self.sd_res:.4f}, "
            f"{self.pct_sampling_error:.1f}% of variance from sampling error, "
            f"{cred} CrI [{self.cred_lower:.4f}, {self.cred_upper:.4f}]",
        ]
        if self.method != "bare-bones":
            lines.append(
                f"  corrected:  rho = {self.rho:.4f} (SE {self.rho_se:.4f}, {lev} CI "
                f"[{self.rho_ci_lower:.4f}, "
                f"{self.rho_ci_upper:.4f}]), SD_rho = {self.sd_rho:.4f}, "
                f"{self.pct_artifacts:.1f}% of variance from artifacts, "
                f"{cred} CrI [{self.rho_cred_lower:.4f}, {self.rho_cred_upper:.4f}], A = "
                f"{self.attenuation:.4f}"
            )
        return "\n".join(lines)


def _study_names(labels: Sequence[str] | None, k: int) -> list[str]:
    if labels is None:
        return [f"study {i + 1}" for i in range(k)]
    names = [str(x) for x in labels]
    if len(names) != k:
        raise DataError(
            f"labels has {len(names)} entries but there are {k} correlations; give one label per "
            "study."
        )
    return names


def _vector(values: ArrayLike, name: str, k: int | None) -> np.ndarray:
    try:
        out = np.array(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be a sequence of numbers: {exc}") from None
    if k is not None and out.size != k:
        raise DataError(f"{name} has {out.size} values but r has {k}; give one value per study.")
    return out


def _reliability(
    values: ArrayLike | None, name: str, k: int, names: list[str]
) -> np.ndarray | None:
    if values is None:
        return None
    rel = _vector(values, name, k)
    bad = np.flatnonzero(~np.isnan(rel) & ~((rel > 0) & (rel <= 1)))
    if bad.size:
        i = bad[0]
        raise DataError(
            f"{name} of {names[i]} is {rel[i]:g}; reliabilities must lie in (0, 1] "
            "(use NaN for a study that does not report one)."
        )
    if np.all(np.isnan(rel)):
        raise DataError(f"no study reports {name}; pass {name}=None to skip that correction.")
    return rel


def _cap(pct: float) -> float:
    return float(min(pct, 100.0))


def hunter_schmidt(
    r: ArrayLike,
    n: ArrayLike,
    rxx: ArrayLike | None = None,
    ryy: ArrayLike | None = None,
    labels: Sequence[str] | None = None,
    credibility: float = 0.80,
    level: float = 0.95,
    correction: str = "auto",
) -> HunterSchmidtResult:
    """Hunter-Schmidt psychometric meta-analysis of correlations, bare-bones or corrected for
    unreliability.

    Bare-bones (Schmidt & Hunter, 2015, ch. 3): the mean is ``rbar = sum(n r) / sum(n)``, the
    observed
    variance ``S2_r = sum(n (r - rbar)^2) / sum(n)``, the sampling-error variance Schmidt & Hunter's
    mean-n formula ``S2_e = (1 - rbar^2)^2 / (nbar - 1)`` with ``nbar = sum(n) / k``, the residual
    variance ``S2_res = max(S2_r - S2_e, 0)``, the SE of the mean ``sqrt(S2_r / k)`` and the
    credibility interval ``rbar +- z SD_res``.

    Individual corrections (ch. 3), used when every study reports the reliabilities: ``A_i =
    sqrt(rxx_i ryy_i)``, ``r_ci = r_i / A_i`` pooled with weights ``n_i A_i^2``; each corrected r
    has
    sampling variance ``(1 - rbar^2)^2 / (n_i - 1) / A_i^2`` (rbar the bare-bones mean) and their
    weighted mean is subtracted from the weighted variance of the ``r_ci``; ``SE(rho) = SD_rc /
    sqrt(k)``.

    Artifact distributions (ch. 4, multiplicative model), used when some studies lack a reliability:
    ``A = mean(sqrt(rxx)) mean(sqrt(ryy))`` over the studies that report them, ``rho = rbar / A``,
    ``V = sum of the squared coefficients of variation of sqrt(rxx) and sqrt(ryy)`` (SDs with
    denominator count), ``S2_rho = max(S2_r - S2_e - rbar^2 V, 0) / A^2`` and ``SE(rho) = SE(rbar) /
    A``.

    Parameters
    ----------
    r : array_like
        Observed correlations, one per study, each in (-1, 1).
    n : array_like
        Sample sizes (whole numbers >= 2).
    rxx, ryy : array_like, optional
        Reliabilities of the two variables, in (0, 1]; NaN (or None entries) where a study does not
        report one. Leave both out for a bare-bones analysis; give one to correct for that variable
        only.
    labels : sequence of str, optional
        Study names used in messages and :meth:`HunterSchmidtResult.studies`.
    credibility : float
        Coverage of the credibility intervals (Schmidt & Hunter's customary 80%).
    level : float
        Coverage of the confidence intervals of the means (normal quantiles).
    correction : {"auto", "individual", "artifact"}
        ``"auto"`` corrects individually when every study reports every given reliability and uses
        artifact distributions otherwise; the other two force a method (``"individual"`` needs
        complete reliabilities).

    Returns
    -------
    HunterSchmidtResult
        ``method`` says which correction was used; ``summary()`` is a one-row table.

    References
    ----------
    Schmidt, F. L., & Hunter, J. E. (2015). *Methods of meta-analysis: Correcting error and bias in
    research findings* (3rd ed.). Sage. Chapters 3 (bare-bones and individual corrections) and 4
    (artifact distributions).

    Examples
    --------
    >>> res = hunter_schmidt([0.2, 0.3, 0.4], [100, 200, 100])
    >>> round(res.r_mean, 4), res.method
    (0.3, 'bare-bones')
    >>> round(hunter_schmidt([0.2, 0.3, 0.4], [100, 200, 100], rxx=[0.8, 0.8, 0.8]).rho, 4)
    0.3354
    """
    correction = choose(correction, _CORRECTIONS, "correction", DataError)
    credibility, level = check_level(credibility, "credibility"), check_level(level)
    r_arr, n_arr, names = _studies(r, n, labels)
    k = r_arr.size
    rel_x = _reliability(rxx, "rxx", k, names)
    rel_y = _reliability(ryy, "ryy", k, names)
    z_ci = stats.norm.ppf(0.5 + level / 2)
    z_cr = stats.norm.ppf(0.5 + credibility / 2)
    bare = _bare_bones(r_arr, n_arr, z_ci, z_cr)
    n_total = float(n_arr.sum())
    n_mean = n_total / k
    method = _method(correction, rel_x, rel_y, names)
    ones = np.ones(k)
    qx = ones if rel_x is None else rel_x
    qy = ones if rel_y is None else rel_y
    cv2: float | None = None
    if method == "bare-bones":
        rho, rho_se, var_rho, attenuation, pct_art = (
            bare["r_mean"],
            bare["se"],
            bare["var_res"],
            1.0,
            bare["pct_sampling_error"],
        )
    elif method == "individual":
        rho, rho_se, var_rho, attenuation, pct_art = _individual(
            r_arr, n_arr, qx * qy, bare["r_mean"]
        )
    else:
        given = [rel for rel in (rel_x, rel_y) if rel is not None]
        rho, rho_se, var_rho, attenuation, pct_art, cv2 = _artifact_distribution(given, bare)
    sd_rho = float(np.sqrt(var_rho))
    return HunterSchmidtResult(
        method=method,
        k=k,
        n_total=int(n_total),
        n_mean=n_mean,
        **{key: float(value) for key, value in bare.items()},
        rho=float(rho),
        rho_se=float(rho_se),
        rho_ci_lower=float(rho - z_ci * rho_se),
        rho_ci_upper=float(rho + z_ci * rho_se),
        var_rho=float(var_rho),
        sd_rho=sd_rho,
        rho_cred_lower=float(rho - z_cr * sd_rho),
        rho_cred_upper=float(rho + z_cr * sd_rho),
        pct_artifacts=float(pct_art),
        attenuation=attenuation,
        artifact_cv2=cv2,
        credibility=float(credibility),
        level=float(level),
        _labels=tuple(names),
        _r=tuple(r_arr.tolist()),
        _n=tuple(int(x) for x in n_arr),
        _rxx=tuple((qx if rel_x is not None else np.full(k, np.nan)).tolist()),
        _ryy=tuple((qy if rel_y is not None else np.full(k, np.nan)).tolist()),
    )


def _studies(
    r: ArrayLike, n: ArrayLike, labels: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validated correlations, sample sizes and study names."""
    r_arr = _vector(r, "r", None)
    k = r_arr.size
    n_arr = _vector(n, "n", k)
    names = _study_names(labels, k)
    if k < 2:
        raise DataError(f"a meta-analysis needs at least 2 studies, got k = {k}.")
    bad = np.flatnonzero(~np.isfinite(r_arr) | (np.abs(r_arr) >= 1))
    if bad.size:
        raise DataError(
            f"r of {names[bad[0]]} is {r_arr[bad[0]]:g}; correlations must be finite and lie in "
            "(-1, 1)."
        )
    bad = np.flatnonzero(~np.isfinite(n_arr) | (n_arr < 2) | (n_arr != np.round(n_arr)))
    if bad.size:
        raise DataError(
            f"n of {names[bad[0]]} is {n_arr[bad[0]]:g}; sample sizes must be whole numbers >= 2."
        )
    return r_arr, n_arr, names


def _bare_bones(r: np.ndarray, n: np.ndarray, z_ci: float, z_cr: float) -> dict:
    """The bare-bones meta-analysis: Schmidt & Hunter (2015), ch. 3."""
    k = r.size
    n_total = float(n.sum())
    r_mean = float(n @ r / n_total)
    var_obs = float(n @ (r - r_mean) ** 2 / n_total)
    var_e = (1 - r_mean**2) ** 2 / (n_total / k - 1)
    var_res = max(var_obs - var_e, 0.0)
    se = np.sqrt(var_obs / k)
    pct_e = 100.0 if var_obs == 0 else _cap(100 * var_e / var_obs)
    return {
        "r_mean": r_mean,
        "var_obs": var_obs,
        "var_e": var_e,
        "var_res": var_res,
        "sd_obs": np.sqrt(var_obs),
        "sd_res": np.sqrt(var_res),
        "pct_sampling_error": pct_e,
        "se": se,
        "ci_lower": r_mean - z_ci * se,
        "ci_upper": r_mean + z_ci * se,
        "cred_lower": r_mean - z_cr * np.sqrt(var_res),
        "cred_upper": r_mean + z_cr * np.sqrt(var_res),
    }


def _method(
    correction: str, rel_x: np.ndarray | None, rel_y: np.ndarray | None, names: list[str]
) -> str:
    """Which correction the reliabilities given allow: bare-bones, individual or artifact
    distribution.
    """
    given = [rel for rel in (rel_x, rel_y) if rel is not None]
    complete = all(not np.isnan(rel).any() for rel in given)
    if not given:
        if correction != "auto":
            raise DataError(f"correction={correction!r} needs reliabilities; give rxx and/or ryy.")
        return "bare-bones"
    if correction == "individual" and not complete:
        rel, name = (
            (rel_x, "rxx") if rel_x is not None and np.isnan(rel_x).any() else (rel_y, "ryy")
        )
        first = int(np.flatnonzero(np.isnan(rel))[0])
        raise DataError(
            f"{name} of {names[first]} is missing; individual corrections need every reliability "
            "(use correction='artifact' or 'auto' for artifact distributions)."
        )
    individual = correction == "individual" or (correction == "auto" and complete)
    return "individual" if individual else "artifact distribution"


def _individual(r: np.ndarray, n: np.ndarray, a2: np.ndarray, r_mean: float) -> tuple:
    """Each r corrected with its own reliabilities (ch. 3): rho, its SE, var_rho, A, % artifacts."""
    k = r.size
    w = n * a2
    rc = r / np.sqrt(a2)
    rho = float(w @ rc / w.sum())
    var_rc = float(w @ (rc - rho) ** 2 / w.sum())
    ve = (1 - r_mean**2) ** 2 / (n - 1) / a2
    mean_ve = float(w @ ve / w.sum())
    var_rho = max(var_rc - mean_ve, 0.0)
    rho_se = np.sqrt(var_rc / k)
    attenuation = float(w @ np.sqrt(a2) / w.sum())
    pct_art = 100.0 if var_rc == 0 else _cap(100 * mean_ve / var_rc)
    return rho, rho_se, var_rho, attenuation, pct_art


def _artifact_distribution(given: list[np.ndarray], bare: dict) -> tuple:
    """Artifact distributions (ch. 4, multiplicative): rho, its SE, var_rho, A, % artifacts, V."""
    r_mean, var_obs, var_e = bare["r_mean"], bare["var_obs"], bare["var_e"]
    factors = [np.sqrt(rel[~np.isnan(rel)]) for rel in given]
    attenuation = float(np.prod([f.mean() for f in factors]))
    cv2 = float(sum((f.std() / f.mean()) ** 2 for f in factors))
    var_art = r_mean**2 * cv2
    rho = r_mean / attenuation
    var_rho = max(var_obs - var_e - var_art, 0.0) / attenuation**2
    rho_se = bare["se"] / attenuation
    pct_art = 100.0 if var_obs == 0 else _cap(100 * (var_e + var_art) / var_obs)
    return rho, rho_se, var_rho, attenuation, pct_art, cv2
