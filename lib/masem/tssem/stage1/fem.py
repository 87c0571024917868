"""Fixed-effects stage 1 of TSSEM: multi-group ML with a common correlation matrix.

Study i with observed variables O_i has model covariance Sigma_i = D_i P_i D_i, where P_i is the
O_i block of the common correlation matrix P and D_i a diagonal matrix of study-specific standard
deviations (Cheung & Chan, 2005, Psychological Methods 10, 40-64). The fit function is metaSEM's
covariance-data rule

    -2LL = sum_i [ n_i log|Sigma_i| + (n_i - 1) tr(S_i Sigma_i^-1) ],

minimised over P and gamma = log diag(D_i) with exact gradient and Hessian; the Hessian's SD blocks
are block-diagonal per study, so Newton steps and standard errors use its Schur complement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special
from scipy.linalg import cho_factor, cho_solve

from masem._linalg import Optimum, newton_minimize, patterns
from masem.data.matrices import StudyData, smallest_eigenvalues, weighted_mean_matrix
from masem.effects import vechs, vechs_indices, vechs_inverse
from masem.errors import DataError

# A study matrix whose smallest eigenvalue is below this is treated as not positive definite.
PD_TOL = 1e-8


@dataclass(frozen=True)
class _Group:
    """Studies that measured the same variables, evaluated as one batch."""

    variables: np.ndarray  # indices into the p variables
    studies: np.ndarray  # indices into the k studies
    cells: np.ndarray  # global vechs index of each local vechs pair
    s: np.ndarray  # (k_g, p_g, p_g) observed correlation matrices
    n: np.ndarray  # (k_g,)
    offset: int  # position of the group's log-SDs in the parameter vector


@dataclass(frozen=True)
class FEMFit:
    """The fixed-effects stage-1 fit: pooled correlations, their covariance, -2LL and fit."""

    rho: np.ndarray
    vcov: np.ndarray  # 2 x the rho block of H^-1 (all parameters incl. SDs); NaN if H is not PD
    hessian_pd: bool
    minus2ll: float
    fit: dict[str, float]  # chi2, fit indices and the three -2LL values
    optimum: Optimum


def check_fem_data(data: StudyData) -> None:
    """FEM needs, per study, the block of measured variables complete and positive definite.

    A study's measured variables are those with a unit diagonal; correlations it reports for a
    variable with a NaN diagonal are used by REM only (metaSEM's convention, see ``tssem1``).
    """
    names = data.variables
    gaps = []
    for i in range(data.k):
        obs = np.flatnonzero(data.measured[i])
        block = data.matrices[i][np.ix_(obs, obs)]
        missing = [
            f"{names[obs[b]]}-{names[obs[a]]}"
            for a, b in zip(*np.nonzero(np.isnan(block)))
            if a > b
        ]
        if missing:
            gaps.append(f"{data.study_name(i)} ({', '.join(missing)})")
    if gaps:
        raise DataError(
            f"{len(gaps)} stud{'y measures' if len(gaps) == 1 else 'ies measure'} both variables "
            f"of a pair (unit diagonals) but report{'s' if len(gaps) == 1 else ''} no correlation "
            f"for it: {'; '.join(gaps)}. The fixed-effects model needs the correlations among a "
            "study's measured variables complete. Use method='REM' (which handles correlations "
            "not reported), or mark one variable of each pair as not measured in that study (a "
            "NaN diagonal) so that FEM leaves it out there."
        )
    smallest = smallest_eigenvalues(data)  # NaN only for a study with fewer than 2 variables
    with np.errstate(invalid="ignore"):
        flagged = np.flatnonzero(smallest < PD_TOL)
    bad = [f"{data.study_name(i)} (smallest eigenvalue {smallest[i]:.3g})" for i in flagged]
    if bad:
        raise DataError(
            "the fixed-effects model needs positive definite study matrices, but these are not: "
            + "; ".join(bad)
            + ". FEM cannot use them: check them for typos, exclude them, or use method='REM', "
            "which keeps them (it uses the correlations themselves)."
        )
    rows, cols = vechs_indices(data.p)
    covered = (data.measured[:, rows] & data.measured[:, cols]).any(axis=0)
    if not covered.all():
        pairs = [data.pair_name(c) for c in np.flatnonzero(~covered)]
        raise DataError(
            f"no study measures both variables (unit diagonals) of {', '.join(pairs)}, so the "
            "fixed-effects model cannot estimate them; use method='REM' or drop a variable."
        )


class FEMObjective:
    """-2LL of the multi-group model; parameters: the q correlations, then log-SDs by group."""

    def __init__(self, data: StudyData):
        self.p = data.p
        self.q = data.q
        cell = np.full((data.p, data.p), -1)
        rows, cols = vechs_indices(data.p)
        cell[rows, cols] = np.arange(data.q)
        cell[cols, rows] = np.arange(data.q)
        self.groups = []
        offset = data.q
        for variables, studies in patterns(data.measured):
            if variables.size == 0:
                continue  # a study that measured nothing in FEM's sense contributes nothing
            lr, lc = vechs_indices(variables.size)
            self.groups.append(
                _Group(
                    variables=variables,
                    studies=studies,
                    cells=cell[variables[lr], variables[lc]],
                    s=data.matrices[np.ix_(studies, variables, variables)],
                    n=data.n[studies],
                    offset=offset,
                )
            )
            offset += studies.size * variables.size
        self.size = offset

    def start(self, rho0: np.ndarray) -> np.ndarray:
        """Start values: rho0, then each study's log SDs at 0."""
        x = np.empty(self.size)
        # The weighted mean matrix can fail to be positive definite on some study's block when
        # studies report different variables; shrink it towards the identity until it is not.
        for shrink in np.linspace(1.0, 0.0, 11):
            x[: self.q] = shrink * rho0
            pooled = vechs_inverse(x[: self.q], self.p)
            blocks = (pooled[np.ix_(g.variables, g.variables)] for g in self.groups)
            if all(np.linalg.eigvalsh(b).min() > PD_TOL for b in blocks):
                break
        for g in self.groups:
            # One study alone is fitted by Sigma = (n - 1) / n S: start the SDs there.
            gamma = np.repeat(0.5 * np.log((g.n - 1) / g.n)[:, None], g.variables.size, axis=1)
            x[g.offset : g.offset + gamma.size] = gamma.ravel()
        return x

    def gammas(self, x: np.ndarray, g: _Group) -> np.ndarray:
        """The log SDs of a group's studies in the parameter vector x."""
        return x[g.offset : g.offset + g.studies.size * g.variables.size].reshape(
            g.studies.size, -1
        )

    def __call__(self, x: np.ndarray, hessian: bool):
        """-2LL at x, with its gradient and Hessian when ``hessian`` is True."""
        pooled = vechs_inverse(x[: self.q], self.p)
        f = 0.0
        if hessian:
            grad = np.zeros(self.size)
            h = _FEMHessian(self, np.zeros((self.q, self.q)))
        for g in self.groups:
            block = pooled[np.ix_(g.variables, g.variables)]
            try:
                chol = np.linalg.cholesky(block)
            except np.linalg.LinAlgError:
                return np.inf, None, None
            a = np.linalg.inv(block)
            gamma = self.gammas(x, g)
            u = np.exp(-gamma)
            r_tilde = g.s * u[:, :, None] * u[:, None, :]  # D^-1 S D^-1
            m = g.n - 1.0
            logdet = 2.0 * np.log(np.diagonal(chol)).sum()
            trace = np.einsum("ijk,jk->i", r_tilde, a)
            f += float(np.sum(2.0 * g.n * gamma.sum(axis=1) + g.n * logdet + m * trace))
            if not hessian:
                continue
            big_n = g.n.sum()
            b_m = a @ np.einsum("i,ijk->jk", m, r_tilde) @ a
            lr, lc = vechs_indices(g.variables.size)
            grad[g.cells] += 2.0 * big_n * a[lr, lc] - 2.0 * b_m[lr, lc]
            qmat = r_tilde @ a  # (k_g, p_g, p_g)
            diag_q = np.diagonal(qmat, axis1=1, axis2=2)
            sl = slice(g.offset, g.offset + gamma.size)
            grad[sl] = (2.0 * g.n[:, None] - 2.0 * m[:, None] * diag_q).ravel()
            # rho-rho: -N tr(A E_a A E_b) + 2 tr(B E_a A E_b), E_a = e_j e_k' + e_k e_j'; the trace
            # is linear in its first matrix, so both terms are one call
            h_rr = _trace_pairs(2.0 * b_m - big_n * a, a, lr, lc)
            h.rr[np.ix_(g.cells, g.cells)] += h_rr
            # gamma-gamma: 2 m (diag(C 1) + C), C = (D^-1 S D^-1) o A
            c = r_tilde * a
            row_sums = np.einsum("ij,jk->ijk", c.sum(axis=2), np.eye(g.variables.size))
            h_gg = 2.0 * m[:, None, None] * (c + row_sums)
            # gamma_s vs rho_(j,k): 2 m [A_js Q_sk + Q_sj A_sk]
            h_gr = (
                2.0
                * m[:, None, None]
                * (a[lr, :].T[None, :, :] * qmat[:, :, lc] + qmat[:, :, lr] * a[:, lc][None, :, :])
            )
            h.blocks.append((g, h_gg, h_gr))
        if not hessian:
            return f, None, None
        return f, grad, h


def _trace_pairs(x: np.ndarray, y: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """tr(X E_a Y E_b) for all vechs pairs a = (j, k), b = (l, m) of symmetric X, Y.

    With E_a = e_j e_k' + e_k e_j' the trace is x_mj y_kl + x_lj y_km + x_mk y_jl + x_lk y_jm: the
    outer product Z_jklm = x_jm y_kl symmetrised in (l, m) and in (j, k), read at the pairs (one
    gather of p^4 / 4 entries instead of eight).
    """
    z = np.einsum("jm,kl->jklm", x, y)
    z = z + z.transpose(0, 1, 3, 2)
    z = z + z.transpose(1, 0, 2, 3)
    return z[rows[:, None], cols[:, None], rows[None, :], cols[None, :]]


class _FEMHessian:
    """Hessian with a dense rho block and per-study log-SD blocks, solved by Schur complement."""

    def __init__(self, objective: FEMObjective, rr: np.ndarray):
        self.objective = objective
        self.rr = rr
        self.blocks: list[tuple[_Group, np.ndarray, np.ndarray]] = []

    def _reduce(self, rhs: np.ndarray, damping: float):
        rr = self.rr + damping * np.diag(np.abs(np.diagonal(self.rr)) + 1e-12)
        reduced_rhs = rhs[: self.objective.q].copy()
        parts = []
        for g, h_gg, h_gr in self.blocks:
            if damping:
                idx = np.arange(h_gg.shape[1])
                h_gg = h_gg.copy()
                h_gg[:, idx, idx] += damping * (np.abs(h_gg[:, idx, idx]) + 1e-12)
            np.linalg.cholesky(h_gg)  # raises LinAlgError when a block is not positive definite
            r_g = rhs[g.offset : g.offset + h_gg.shape[0] * h_gg.shape[1]].reshape(
                h_gg.shape[0], -1
            )
            z = np.linalg.solve(h_gg, np.concatenate([h_gr, r_g[:, :, None]], axis=2))
            rr[np.ix_(g.cells, g.cells)] -= np.einsum("isa,isb->ab", h_gr, z[:, :, :-1])
            reduced_rhs[g.cells] -= np.einsum("isa,is->a", h_gr, z[:, :, -1])
            parts.append((g, z))
        return rr, reduced_rhs, parts

    def solve(self, rhs: np.ndarray, free: np.ndarray, damping: float) -> np.ndarray:
        # FEM has no bounds, so every parameter is free.
        rr, reduced_rhs, parts = self._reduce(rhs, damping)
        d_rho = cho_solve(cho_factor(rr, lower=True, check_finite=False), reduced_rhs)
        out = np.empty_like(rhs)
        out[: self.objective.q] = d_rho
        for g, z in parts:
            d = z[:, :, -1] - np.einsum("isa,a->is", z[:, :, :-1], d_rho[g.cells])
            out[g.offset : g.offset + d.size] = d.ravel()
        return out

    def rho_covariance(self) -> tuple[np.ndarray, bool]:
        """2 x the rho block of H^-1 (the inverse Schur complement), NaN if H is not PD."""
        try:
            rr, _, _ = self._reduce(np.zeros(self.objective.size), 0.0)
            factor = cho_factor(rr, lower=True, check_finite=False)
            if not np.all(np.diagonal(factor[0]) > 0):
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            return np.full((self.objective.q, self.objective.q), np.nan), False
        return 2.0 * cho_solve(factor, np.eye(self.objective.q)), True


def fit_fem(data: StudyData) -> FEMFit:
    """Fit the fixed-effects model; see the module docstring."""
    check_fem_data(data)
    objective = FEMObjective(data)
    opt = newton_minimize(objective, objective.start(vechs(weighted_mean_matrix(data))))
    vcov, pd_ok = opt.hessian.rho_covariance()
    sds = np.full((data.k, data.p), np.nan)
    for g in objective.groups:
        sds[np.ix_(g.studies, g.variables)] = np.exp(objective.gammas(opt.x, g))
    pooled = vechs_inverse(opt.x[: data.q], data.p)
    saturated, independence, srmr = 0.0, 0.0, 0.0
    # A study that reports no correlation has no block: it is not a group of the likelihood.
    groups = np.flatnonzero(data.measured.sum(axis=1) >= 2)
    for i in groups:
        obs = data.measured[i]
        s = data.matrices[i][np.ix_(obs, obs)]
        n, p_i = data.n[i], int(obs.sum())
        saturated += n * np.linalg.slogdet(s)[1] + (n - 1) * p_i
        independence += (n - 1) * p_i
        sigma = pooled[np.ix_(obs, obs)] * np.outer(sds[i, obs], sds[i, obs])
        srmr += (n - 1) * _srmr(s, sigma)
    srmr /= np.sum(data.n[groups] - 1)
    fit = _fit_indices(opt.f, saturated, independence, srmr, data, objective.size, groups)
    return FEMFit(
        rho=opt.x[: data.q],
        vcov=vcov,
        hessian_pd=pd_ok,
        minus2ll=opt.f,
        fit=fit,
        optimum=opt,
    )


def _srmr(s: np.ndarray, sigma: np.ndarray) -> float:
    """Root mean square of the correlation residuals over the strict lower triangle (Bentler,
    1995).
    """

    def as_cor(m: np.ndarray) -> np.ndarray:
        sd = np.sqrt(np.diagonal(m))
        return m / np.outer(sd, sd)

    rows, cols = vechs_indices(s.shape[0])
    return float(np.sqrt(np.mean((as_cor(s) - as_cor(sigma))[rows, cols] ** 2)))


def _fit_indices(
    minus2ll, saturated, independence, srmr, data: StudyData, n_free: int, groups: np.ndarray
) -> dict[str, float]:
    """Chi-square test and fit indices of the FEM against the saturated and independence models.

    RMSEA carries metaSEM's multi-group factor sqrt(k) (Steiger, 1998, Structural Equation
    Modeling 5, 411-419): RMSEA = sqrt(k) sqrt(max(chi2 - df, 0) / ((N - 1) df)). Its 90% interval
    inverts the noncentral chi-square (Browne & Cudeck, 1993) and, as OpenMx reports it, scales the
    noncentrality by sum_i (n_i - 1) = N - k: sqrt(k lambda / ((N - k) df)). SRMR is the
    (n_i - 1)-weighted mean of the studies' SRMR.
    """
    k, total = groups.size, float(data.n[groups].sum())
    p_i = data.measured.sum(axis=1)
    moments = int(np.sum(p_i * (p_i + 1) // 2))
    df = moments - n_free
    chi2 = minus2ll - saturated
    df_indep = int(np.sum(p_i * (p_i - 1) // 2))
    chi2_indep = independence - saturated
    p_value = float(special.chdtrc(df, max(chi2, 0.0))) if df > 0 else np.nan
    out = {"chi2": chi2, "df": float(df), "p_value": p_value}
    if df > 0:
        lo, hi = _noncentrality_interval(chi2, df)
        interval_scale = np.sqrt(k / ((total - k) * df))
        out |= {
            "RMSEA": float(np.sqrt(k / ((total - 1.0) * df)) * np.sqrt(max(chi2 - df, 0.0))),
            "RMSEA_lower": float(interval_scale * np.sqrt(lo)),
            "RMSEA_upper": float(interval_scale * np.sqrt(hi)),
        }
    else:
        out |= {"RMSEA": np.nan, "RMSEA_lower": np.nan, "RMSEA_upper": np.nan}
    out["SRMR"] = srmr
    excess = max(chi2 - df, 0.0)
    excess_indep = max(chi2_indep - df_indep, excess)
    out["CFI"] = 1.0 - excess / excess_indep if excess_indep > 0 else 1.0
    if df > 0 and df_indep > 0:
        out["TLI"] = (chi2_indep / df_indep - chi2 / df) / (chi2_indep / df_indep - 1.0)
    else:
        out["TLI"] = np.nan
    out |= {
        "chi2_indep": chi2_indep,
        "df_indep": float(df_indep),
        "AIC": chi2 - 2.0 * df,
        "BIC": chi2 - df * np.log(total),
        "minus2LL": minus2ll,
        "saturated_minus2LL": saturated,
        "independence_minus2LL": independence,
        "n_parameters": float(n_free),
        "n": total,
    }
    return out


def _noncentrality_interval(chi2: float, df: int) -> tuple[float, float]:
    """90% interval of the noncentrality parameter: cdf(chi2; df, lambda) = 0.95 and 0.05."""
    # scipy.special's chdtr and chndtr are what stats.chi2.cdf and stats.ncx2.cdf evaluate, without
    # their per-call argument handling (which made this root search most of a small FEM fit's time);
    # unlike those, they are undefined below 0, where a perfect fit's chi2 can land by rounding.
    chi2 = max(chi2, 0.0)

    def bound(target: float) -> float:
        if special.chdtr(df, chi2) < target:
            return 0.0
        fn = lambda lam: special.chndtr(chi2, df, lam) - target  # noqa: E731
        upper = max(chi2, 1.0)
        while fn(upper) > 0:
            upper *= 2.0
        return float(optimize.brentq(fn, 1e-12, upper, xtol=1e-12, rtol=1e-12))

    return bound(0.95), bound(0.05)
