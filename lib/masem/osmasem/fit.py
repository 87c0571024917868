"""``osmasem``: one-stage MASEM with moderators on the structural parameters (Jak & Cheung, 2020).

All studies are analysed at once. Study i contributes its observed correlations r_i with known
sampling covariance V_i; its expected correlations are the model-implied ones at its moderator
values, R_i = F (I - A(x_i))^-1 S(x_i) (I - A(x_i))^-T F', with A(x) = A0 + sum_m A_m x_m on the
moderated paths (or S(x) on moderated covariances), and the correlations vary between studies
around them with covariance T (diagonal by default). The parameters are estimated by maximum
likelihood (full information over each study's observed correlations), with analytic gradients
and Hessians; standard errors are sqrt(diag(2 H^-1)), H the Hessian of -2LL (OpenMx's rule).

References
----------
Jak, S., & Cheung, M. W.-L. (2020). Meta-analytic structural equation modeling with moderating
effects on SEM parameters. *Psychological Methods*, 25(4), 430-455.
Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from masem._util import check_level, choose, frozen
from masem.data.cordata import CorData
from masem.errors import ConvergenceWarning, DataError, ModelError
from masem.model import RAMModel, lavaan_to_ram
from masem.osmasem._likelihood import LOG_TAU2_LOWER, TAU2_LOWER, Likelihood, symm_report
from masem.osmasem._optimize import maximise
from masem.osmasem._profile import profile_bounds
from masem.osmasem._structure import Structure
from masem.osmasem._syntax import Moderation, split_moderation
from masem.osmasem.results import OSMASEMResult

__all__ = ["osmasem"]

RE_TYPES = ("Diag", "Symm", "Zero")
INTERVALS = ("wald", "profile")
MISSING = ("raise", "drop")
# metaSEM's start for every tau2 (create.Tau2's RE.startvalues = 0.05), used by the saturated model.
TAU2_START = 0.05
# The smallest between-study variance a fit starts from (a start at the bound would stall there).
MIN_TAU2_START = 1e-4
# A log tau2 within this of its lower bound is at the bound (its SE is not defined).
_AT_BOUND = 1e-6


def osmasem(
    data: CorData,
    model: str | RAMModel,
    moderators: Sequence[str] | str | None = None,
    moderate: str | Sequence[str] | Mapping[str, Sequence[str]] = "A",
    re_type: str = "Diag",
    intervals: str = "wald",
    level: float = 0.95,
    missing: str = "raise",
) -> OSMASEMResult:
    """One-stage MASEM with moderators (Jak & Cheung, 2020), fitted by maximum likelihood.

    Parameters
    ----------
    data : CorData
        From :func:`masem.cor_data` (metaSEM's ``Cor2DataFrame``) or ``StudyDatabase.cor_data``.
    model : str or RAMModel
        lavaan syntax (read as metaSEM's ``lavaan2RAM`` reads it); its observed variables must be
        among the data's variables (the data are restricted to them).
    moderators : str or list of str, optional
        Columns of ``data.moderators`` that moderate the model, used as given: centre or scale
        them first when the parameters at moderator = 0 should describe a typical study (metaSEM's
        examples use ``scale()``). None: the model without moderators.
    moderate : "A", "S", list of str or dict
        Which parameters the moderators shift (or write the moderation into the model, as
        metaSEM's ``osmasem2`` reads it: a line ``a == a0 + a1*data.m`` makes the parameter
        labelled ``a`` equal to ``a0`` plus ``a1`` per unit of the data column ``m``; the
        moderators then come from those lines, and ``a0`` / ``a1`` name the rows of
        ``coefficients``): ``"A"`` every free path and loading (metaSEM's
        ``create.modMatrix(output = "A")``), ``"S"`` every free covariance off the diagonal, a
        list of parameter names (every moderator shifts each), or a dict from moderator to the
        names it shifts. Error variances of dependent variables are computed, not parameters,
        and cannot be moderated.
    re_type : {"Diag", "Symm", "Zero"}
        Between-study covariance of the correlations: T = diag(tau2) with tau2_j = exp(Tau1_j)
        (the default), a full T = D C D (D the standard deviations, C a correlation matrix), or
        T = 0 (a fixed-effects model).
    intervals : {"wald", "profile"}
        Interval of :attr:`~OSMASEMResult.coefficients`: Wald, or likelihood-based for every
        free parameter (slower: two refits per bound step).
    level : float
        Coverage of the intervals.
    missing : {"raise", "drop"}
        A study without a value of a moderator: an error naming it, or the study is left out with
        a note (the sampling covariances are then evaluated at the mean matrix of the studies kept).

    Returns
    -------
    OSMASEMResult
        ``coefficients`` (estimate, se, z, p, ci_lower, ci_upper; the slope of parameter ``a`` on
        moderator ``m`` is ``"a:m"``), ``tau2``, ``minus2LL``, ``implied(at=...)``, ...;
        ``masem.compare(fit1, fit0)`` tests the moderators.

    Raises
    ------
    DataError
        A moderator that is not a column, not numeric, missing for a study (with
        ``missing="raise"``) or constant over the studies used.
    ModelError
        A model that uses variables the data lack, a moderated parameter that does not exist or
        cannot be moderated, error variances that cannot be derived from diag(R) = 1.

    Warns
    -----
    ConvergenceWarning
        No convergence, a tau2 at its lower bound (1e-10), a Hessian that is not positive
        definite (no standard errors), a study whose implied matrix is not positive definite at
        its moderator values, studies left out.

    References
    ----------
    Jak, S., & Cheung, M. W.-L. (2020). Meta-analytic structural equation modeling with moderating
    effects on SEM parameters. *Psychological Methods*, 25(4), 430-455.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Nohe15A1")
    >>> mods = ex.moderators[["Lag"]].astype(float)
    >>> data = masem.cor_data(ex.matrices, ex.n, moderators=(mods - mods.mean()) / mods.std())
    >>> model = "W2 ~ w2w*W1 + s2w*S1\\nS2 ~ w2s*W1 + s2s*S1\\n"
    >>> model += "W1 ~~ w1WITHs1*S1\\nW2 ~~ w2WITHs2*S2\\nW1 ~~ 1*W1\\nS1 ~~ 1*S1"
    >>> fit0 = masem.osmasem(data, model)
    >>> fit1 = masem.osmasem(data, model, moderators="Lag")
    >>> round(float(fit1.coefficients.loc["w2w:Lag", "estimate"]), 3)
    -0.062
    >>> round(float(masem.compare(fit0, fit1)["chi2_diff"].iloc[0]), 2)
    23.52
    """
    if not isinstance(data, CorData):
        raise DataError(
            "data must come from masem.cor_data() or StudyDatabase.cor_data(), got "
            f"{type(data).__name__}."
        )
    re_type = choose(re_type, RE_TYPES, "re_type")
    intervals = choose(intervals, INTERVALS, "intervals")
    missing = choose(missing, MISSING, "missing")
    level = check_level(level, error=ModelError)
    model, in_syntax = _syntax_moderation(model, moderators)
    if in_syntax:
        moderators = list(dict.fromkeys(m for spec in in_syntax for _, m in spec.slopes))
    mods = _moderator_names(moderators, data)
    data, dropped = _complete_cases(data, mods, missing)
    ram = _model(model, data)
    if ram.observed != data.variables:
        data = data.select(ram.observed)
    x = _moderator_values(data, mods)
    if in_syntax:
        moderate = {
            m: [s.label for s in in_syntax if m in dict(map(reversed, s.slopes))] for m in mods
        }
    structure = Structure(ram, _moderated(moderate, mods, ram), mods)
    names = _user_names(structure.names, in_syntax)
    return _fit(ram, data, structure, x, mods, re_type, intervals, level, dropped, names)


def _syntax_moderation(model, moderators) -> tuple[object, list[Moderation]]:
    """Moderation lines (``a == a0 + a1*data.x``) taken out of a str model."""
    if not isinstance(model, str) or "data." not in model:
        return model, []
    text, specs = split_moderation(model)
    if specs and moderators is not None:
        raise ModelError(
            "the model names its moderators itself (lines with data.); leave out moderators= and "
            "moderate=, or write the model without those lines"
        )
    return text, specs


def _user_names(names: tuple[str, ...], specs: list[Moderation]) -> tuple[str, ...]:
    """The user's names for moderated parameters and slopes (``a`` -> ``a0``, ``a:x`` -> ``a1``)."""
    rename = {}
    for spec in specs:
        rename[spec.label] = spec.intercept
        rename.update({f"{spec.label}:{column}": slope for slope, column in spec.slopes})
    return tuple(rename.get(n, n) for n in names)


def _fit(
    ram, data, structure, x, mods, re_type, intervals, level, dropped, user_names
) -> OSMASEMResult:
    def mean(theta, jacobian):
        if jacobian:
            rho, J, _ = structure.evaluate(theta, x)
            return rho, J
        return structure.implied(theta, x), None

    def curvature(theta, u):
        return structure.curvature(theta, x, u)

    like = Likelihood(
        data.r, data.observed, data.n, data.acov, mean, curvature, structure.n_params, re_type
    )
    if intervals == "profile" and re_type == "Symm":
        raise ModelError(
            "intervals='profile' is available for re_type 'Diag' and 'Zero'; for 'Symm' use Wald "
            "intervals (intervals='wald')"
        )
    start, lower = _starts(structure, like, data)
    _check_start(structure, x)
    opt = maximise(like, start, lower)
    estimates, vcov, at_bound = _report(opt, structure, like)
    n_var = like.q if like.n_tau else 0
    names = (
        user_names
        + tuple(f"Tau1_{j + 1}" for j in range(n_var))
        + tuple(f"Cor_{j + 1}" for j in range(estimates.size - structure.n_params - n_var))
    )
    _notes(opt, data, structure, x, mods, at_bound, vcov)
    bounds = None
    if intervals == "profile":
        bounds = profile_bounds(like, opt.x, opt.f, lower, vcov, level)
    return OSMASEMResult(
        model=ram,
        data=data,
        moderators=tuple(mods),
        re_type=re_type,
        minus2LL=float(opt.f),
        n_parameters=int(estimates.size),
        n_observed=like.n_observed,
        intervals=intervals,
        level=level,
        dropped=dropped,
        converged=opt.converged,
        message=opt.message,
        iterations=opt.iterations,
        grad_norm=opt.grad_norm,
        _names=names,
        _estimates=frozen(estimates),
        _vcov=frozen(vcov),
        _bounds=frozen(bounds),
        _structure=structure,
        _x=frozen(x),
        _per_study=frozen(like.per_study(opt.x, data.k)),
    )


def _starts(structure: Structure, like: Likelihood, data: CorData) -> tuple[np.ndarray, np.ndarray]:
    """Start values and lower bounds.

    Paths and covariances: a least-squares fit of the model without moderators to the mean
    correlations (a few Gauss-Newton steps from the model's own starts), slopes 0; between-study
    variances: the moment estimate of each correlation, the variance of its values around their
    mean minus the mean sampling variance, at least MIN_TAU2_START. Log tau2 (Diag) is bounded
    below at log(1e-10); the Cholesky elements of a Symm T are unbounded.
    """
    theta = _least_squares_start(structure, data)
    weights = np.where(data.observed, data.n[:, None], 0.0)
    mean = (weights * np.nan_to_num(data.r)).sum(axis=0) / weights.sum(axis=0)
    spread = np.nanmean((data.r - mean) ** 2, axis=0)
    sampling = np.nanmean(
        np.where(data.observed, np.diag(data.acov)[None, :] / data.n[:, None], np.nan), axis=0
    )
    tau2 = np.maximum(spread - sampling, MIN_TAU2_START)
    free = np.full(structure.n_params, -np.inf)
    if like.re_type == "Diag":
        tau, tau_lower = np.log(tau2), np.full(like.q, LOG_TAU2_LOWER)
    elif like.re_type == "Symm":
        chol = np.diag(np.sqrt(tau2))[np.tril_indices(like.q)]
        tau, tau_lower = chol, np.full(chol.size, -np.inf)
    else:
        tau = tau_lower = np.zeros(0)
    return np.concatenate([theta, tau]), np.concatenate([free, tau_lower])


def _least_squares_start(structure: Structure, data: CorData) -> np.ndarray:
    """Gauss-Newton on the mean correlations (unit weights), moderators at 0, from the model's
    starts; a step that does not reduce the residuals, or a failure, keeps the last point.
    """
    weights = np.where(data.observed, data.n[:, None], 0.0)
    target = (weights * np.nan_to_num(data.r)).sum(axis=0) / weights.sum(axis=0)
    theta = structure.start.copy()
    base = np.array([not name.count(":") for name in structure.names])  # slopes stay at 0
    x = np.zeros((1, len(structure.moderators)))
    try:
        rho, J, _ = structure.evaluate(theta, x)
        loss = float(np.sum((target - rho[0]) ** 2))
        for _ in range(20):
            Jb = J[0][:, base]
            step = np.linalg.lstsq(Jb, target - rho[0], rcond=None)[0]
            trial = theta.copy()
            trial[base] += step
            rho_t, J_t, _ = structure.evaluate(trial, x)
            loss_t = float(np.sum((target - rho_t[0]) ** 2))
            if not np.isfinite(loss_t) or loss_t >= loss:
                break
            theta, rho, J, loss = trial, rho_t, J_t, loss_t
            if np.max(np.abs(step)) < 1e-6:
                break
    except (ModelError, np.linalg.LinAlgError):
        return structure.start.copy()
    return theta


def _report(
    opt, structure: Structure, like: Likelihood
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimates, their covariance and which log tau2 sit at the lower bound, in metaSEM's
    parametrisation (a Symm T as Tau1 and correlations).
    """
    n = structure.n_params
    at_bound = np.zeros(opt.x.size, dtype=bool)
    if like.re_type == "Diag":
        at_bound[n:] = opt.x[n:] <= LOG_TAU2_LOWER + _AT_BOUND
    vcov = _vcov(opt.hessian.matrix, at_bound)
    if like.re_type != "Symm":
        return opt.x, vcov, at_bound
    estimates, vcov = symm_report(opt.x, vcov, n, like.q)
    return estimates, vcov, np.zeros(estimates.size, dtype=bool)


def _vcov(hessian: np.ndarray, at_bound: np.ndarray) -> np.ndarray:
    """2 x the inverse Hessian of -2LL over the parameters not at a bound (NaN for those)."""
    size = at_bound.size
    out = np.full((size, size), np.nan)
    keep = ~at_bound
    try:
        inverse = np.linalg.inv(hessian[np.ix_(keep, keep)])
    except np.linalg.LinAlgError:
        return out
    out[np.ix_(keep, keep)] = 2.0 * inverse
    return out


def _notes(opt, data, structure, x, mods, at_bound, vcov) -> None:
    if not opt.converged:
        warnings.warn(
            f"osmasem: the optimiser did not converge ({opt.message}; largest gradient "
            f"{opt.grad_norm:.2g}); check that the model is identified and that the moderators are "
            "on a sensible scale (centre or scale them).",
            ConvergenceWarning,
            stacklevel=3,
        )
    if at_bound.any():
        which = [data.labels[j - structure.n_params] for j in np.flatnonzero(at_bound)]
        warnings.warn(
            f"osmasem: tau2 at its lower bound ({TAU2_LOWER:g}) for {', '.join(which)}: no "
            "between-study variance is left there; the estimate is valid, its log tau2 has no "
            "standard error (use intervals='profile' for its interval).",
            ConvergenceWarning,
            stacklevel=3,
        )
    variances = np.diag(vcov)[~at_bound]
    if not np.all(np.isfinite(variances) & (variances > 0)):
        warnings.warn(
            "osmasem: the Hessian of -2LL is not positive definite at the solution, so there are "
            "no standard errors; the model (or the number of moderated parameters) may not be "
            "identified by these data: moderate fewer parameters or fix some.",
            ConvergenceWarning,
            stacklevel=3,
        )
    _warn_not_positive_definite(opt.x[: structure.n_params], structure, x, data, mods)


def _warn_not_positive_definite(theta, structure, x, data, mods) -> None:
    """Warn about moderator values so extreme that the implied matrix stops being a correlation
    matrix.
    """
    _, S, _ = structure.matrices(theta, x)
    d = structure.computed
    negative = (S[:, d, d] < 0).any(axis=1) if d.size else np.zeros(x.shape[0], dtype=bool)
    bad = [i for i in np.flatnonzero(negative)]
    if not bad:
        return
    shown = ", ".join(
        f"{data.studies[i]} ({', '.join(f'{m} = {x[i, j]:g}' for j, m in enumerate(mods))})"
        for i in bad[:5]
    )
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    warnings.warn(
        f"osmasem: at the estimates, the implied correlation matrix of {len(bad)} "
        f"stud{'y' if len(bad) == 1 else 'ies'} is not positive definite (a negative error "
        f"variance): "
        f"{shown}{more}. The linear moderator effect leaves the range where the model holds for "
        "these moderator values: check them for outliers or typos, or rescale the moderator.",
        ConvergenceWarning,
        stacklevel=4,
    )


def _check_start(structure: Structure, x: np.ndarray) -> None:
    """Refuse, before optimising, a model whose error variances cannot be derived."""
    structure.matrices(structure.start, x)


def _model(model, data: CorData) -> RAMModel:
    if isinstance(model, RAMModel):
        ram = model
    elif isinstance(model, str):
        ram = lavaan_to_ram(model)
    else:
        raise ModelError(
            f"model must be lavaan syntax in a str (or a RAMModel), got {type(model).__name__}"
        )
    absent = [v for v in ram.observed if v not in data.variables]
    if absent:
        hints = [_suggest(v, data.variables) for v in absent]
        raise ModelError(
            f"the model uses {absent}, which {'is' if len(absent) == 1 else 'are'} not in the data"
            f"{''.join(hints)}; variables in the data: {list(data.variables)}"
        )
    order = [v for v in data.variables if v in ram.observed]
    return ram if tuple(order) == ram.observed else ram.with_observed(order)


def _suggest(name: str, known: Sequence[str]) -> str:
    lower = {k.lower(): k for k in known}
    match = lower.get(name.lower()) or next(
        iter(difflib.get_close_matches(name, list(known), n=1)), None
    )
    return f" (did you mean {match!r} for {name!r}?)" if match else ""


def _moderator_names(moderators, data: CorData) -> list[str]:
    if moderators is None:
        return []
    names = [moderators] if isinstance(moderators, str) else list(moderators)
    out = []
    for m in names:
        m = str(m)
        if m not in data.moderators.columns:
            raise DataError(
                f"moderator {m!r} is not a column of the data's moderators"
                f"{_suggest(m, list(data.moderators.columns))}; available: "
                f"{list(data.moderators.columns)}"
            )
        if m not in out:
            out.append(m)
    return out


def _complete_cases(
    data: CorData, mods: list[str], missing: str
) -> tuple[CorData, tuple[str, ...]]:
    if not mods:
        return data, ()
    frame = data.moderators[mods]
    for m in mods:
        numbers = pd.to_numeric(frame[m], errors="coerce")
        text = frame[m][numbers.isna() & frame[m].notna()]
        if len(text):
            raise DataError(
                f"moderator {m!r} is not numeric for study {text.index[0]!r} (value "
                f"{text.iloc[0]!r}); "
                "code a category as a 0/1 indicator column."
            )
    absent = frame.isna().any(axis=1).to_numpy()
    if not absent.any():
        return data, ()
    who = [data.studies[i] for i in np.flatnonzero(absent)]
    if missing == "raise":
        raise DataError(
            f"{len(who)} stud{'y has' if len(who) == 1 else 'ies have'} no value for moderator(s) "
            f"{mods}: {who}; fill the values in, or pass missing='drop' to leave these studies out."
        )
    kept = data.subset(~absent)
    warnings.warn(
        f"osmasem: {len(who)} stud{'y' if len(who) == 1 else 'ies'} without a value for {mods} "
        "left "
        f"out ({', '.join(who)}); {kept.k} studies remain, and their mean correlation matrix gives "
        "the sampling covariances.",
        ConvergenceWarning,
        stacklevel=3,
    )
    return kept, tuple(who)


def _moderator_values(data: CorData, mods: list[str]) -> np.ndarray:
    if not mods:
        return np.zeros((data.k, 0))
    x = np.column_stack([pd.to_numeric(data.moderators[m]).to_numpy(dtype=float) for m in mods])
    for j, m in enumerate(mods):
        if not np.isfinite(x[:, j]).all():
            i = int(np.flatnonzero(~np.isfinite(x[:, j]))[0])
            raise DataError(
                f"moderator {m!r} is {x[i, j]} for study {data.studies[i]!r}; give a finite number."
            )
        if np.ptp(x[:, j]) == 0:
            raise DataError(
                f"moderator {m!r} has the same value ({x[0, j]:g}) in all {data.k} studies used; "
                "it "
                "cannot explain differences between studies: drop it."
            )
    return x


def _moderated(moderate, mods: list[str], ram: RAMModel) -> dict[str, list[str]]:
    """Parameter name -> the moderators that shift it."""
    if not mods:
        return {}
    free = [c for c in ram.cells if c.fixed is None]
    paths = list(dict.fromkeys(c.name for c in free if c.matrix == "A"))
    covariances = list(dict.fromkeys(c.name for c in free if c.matrix == "S" and c.row != c.col))
    if isinstance(moderate, str):
        kind = choose(moderate, ("A", "S"), "moderate")
        names = paths if kind == "A" else covariances
        if not names:
            raise ModelError(
                f"moderate={kind!r}: the model has no free "
                f"{'path' if kind == 'A' else 'covariance'} to moderate"
            )
        return {n: list(mods) for n in names}
    if isinstance(moderate, Mapping):
        out: dict[str, list[str]] = {}
        for m, names in moderate.items():
            if m not in mods:
                raise ModelError(f"moderate: {m!r} is not among the moderators {mods}")
            for name in [names] if isinstance(names, str) else names:
                out.setdefault(_moderable(str(name), paths, covariances), []).append(m)
        return out
    if isinstance(moderate, Sequence):
        return {_moderable(str(n), paths, covariances): list(mods) for n in moderate}
    raise ModelError(
        f"moderate must be 'A', 'S', a list of parameter names or a dict; got {moderate!r}"
    )


def _moderable(name: str, paths: list[str], covariances: list[str]) -> str:
    if name in paths or name in covariances:
        return name
    known = paths + covariances
    raise ModelError(
        f"cannot moderate {name!r}: it is not a free path, loading or covariance of the model"
        f"{_suggest(name, known)}; these can be moderated: {known} (error variances of dependent "
        "variables are computed from diag(R) = 1, not estimated)"
    )
