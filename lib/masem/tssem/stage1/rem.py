"""Random-effects stage 1 of TSSEM: the multivariate random-effects model on the correlations.

Study i contributes the vector r_i of the correlations it reports,

    r_i ~ N(X_i rho, V_i + X_i T X_i'),

with X_i the rows of the identity that select its correlations, V_i the Olkin-Siotani sampling
covariance evaluated at the sample-size-weighted mean matrix and divided by n_i, and T the
between-study covariance (diagonal, full or zero). rho and T are estimated by maximum likelihood
(Cheung, 2013, Structural Equation Modeling 20, 429-454; Cheung, 2014, Behavior Research
Methods 46, 29-40). Only the correlations enter the model, so a study whose observed matrix is
not positive definite is still usable here (see :func:`masem.tssem1`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from masem._linalg import (
    DenseHessian,
    Optimum,
    ScoringFallbackHessian,
    newton_minimize,
    patterns,
    spd_inverses,
)
from masem.data.matrices import StudyData, prepare_studies, weighted_mean_matrix
from masem.effects import olkin_siotani, vechs
from masem.errors import DataError

TAU2_LOWER = 1e-10  # metaSEM's RE.lbound: the lower bound of the tau2 (diagonal) parameters
AT_BOUND = 100 * TAU2_LOWER  # a tau2 below this is reported as on its bound
_LOG_2PI = float(np.log(2.0 * np.pi))


# What evaluating one more batch costs (some 35 numpy calls), in units of the per-study work on one
# entry of its q_b x q_b matrices: the padded single batch is used when its extra entries cost less
# than the batches it saves. Calibrated on the reference data sets and on simulated data with
# k = 25-400 studies and p = 4-12 variables (benchmarks/README.md): it picks the faster layout in
# 17 of 19 cases, and costs at most 27% in the other two.
BATCH_OVERHEAD = 3000


@dataclass(frozen=True)
class _Batch:
    """Studies evaluated together, on the correlations ``cells``.

    Either the studies share one missing-data pattern (``mask`` is None), or several patterns
    are padded to common cells: a correlation a study does not report gets unit variance, no
    covariance and a zero residual. Its padded Sigma is then block diagonal with an identity
    block, which adds log 1 = 0 to the log-determinant and nothing to the quadratic form, so
    the likelihood is that of the reported correlations; ``mask`` removes the padding from
    the derivatives.
    """

    cells: np.ndarray  # indices into the q correlations
    v: np.ndarray  # (k_b, m, m) sampling covariances (identity on the padding)
    y: np.ndarray  # (k_b, m) observed correlations (0 on the padding)
    mask: np.ndarray | None  # (k_b, m) 1.0 reported, 0.0 padded; None: all reported
    pair_mask: np.ndarray | None  # (k_b, m, m) outer products of mask
    # The batch's entries of a q-vector and its block of a q x q matrix: cells and
    # np.ix_(cells, cells), or plain slices when the batch has all q cells (faster to index).
    take: np.ndarray | slice
    block: tuple[np.ndarray, np.ndarray] | tuple[slice, slice]


def _blocks(
    top_left: np.ndarray, top_right: np.ndarray | None, bottom_right: np.ndarray
) -> np.ndarray:
    """The symmetric matrix [[A, B], [B', C]] (B = 0 when None)."""
    q, r = top_left.shape[0], bottom_right.shape[0]
    out = np.zeros((q + r, q + r))
    out[:q, :q] = top_left
    out[q:, q:] = bottom_right
    if top_right is not None:
        out[:q, q:] = top_right
        out[q:, :q] = top_right.T
    return out


def _batches(data: StudyData, acov: np.ndarray) -> list[_Batch]:
    """Batches of studies: one per missing-data pattern, or all padded into one when that is
    cheaper.
    """
    groups = patterns(data.observed)
    for cells, rows in groups:
        block = acov[np.ix_(cells, cells)]
        if spd_inverses(block[None]) is None:
            who = ", ".join(data.study_name(i) for i in rows)
            raise DataError(
                f"the Olkin-Siotani sampling covariance of the correlations reported by {who} is "
                "not "
                f"positive definite at the weighted mean correlation matrix (smallest eigenvalue "
                f"{float(np.linalg.eigvalsh(block).min()):.3g}); the mean correlations are too "
                "extreme "
                "(near +-1) or mutually inconsistent. Check the data for typos."
            )
    everything = (slice(None), (slice(None), slice(None)))
    grouped_cost = sum(rows.size * cells.size**2 + BATCH_OVERHEAD for cells, rows in groups)
    if len(groups) == 1 or data.k * data.q**2 + BATCH_OVERHEAD > grouped_cost:
        out = []
        for cells, rows in groups:
            v = acov[np.ix_(cells, cells)][None, :, :] / data.n[rows, None, None]
            take, block = everything if cells.size == data.q else (cells, np.ix_(cells, cells))
            out.append(_Batch(cells, v, data.r[np.ix_(rows, cells)], None, None, take, block))
        return out
    mask = data.observed.astype(float)
    pair_mask = mask[:, :, None] * mask[:, None, :]
    v = acov[None, :, :] / data.n[:, None, None] * pair_mask + np.eye(data.q) * (1.0 - pair_mask)
    y = np.where(data.observed, data.r, 0.0)
    return [_Batch(np.arange(data.q), v, y, mask, pair_mask, *everything)]


@dataclass(frozen=True)
class REMFit:
    """The random-effects stage-1 fit: pooled correlations, T, their covariance, Q and I2."""

    rho: np.ndarray  # (q,)
    tau: np.ndarray  # (q, q) between-study covariance
    vcov_all: np.ndarray  # 2 H^-1 over (rho, tau parameters); see _covariance when H is not PD
    hessian_pd: bool
    tau_index: tuple[np.ndarray, np.ndarray]  # rows, cols in T of the tau parameters
    minus2ll: float
    q_stat: float
    q_df: int
    i2: np.ndarray  # (q,)
    optimum: Optimum
    n_observed: int


class REMObjective:
    """-2 log-likelihood of the random-effects model with exact gradient and Hessian.

    Parameters are rho (q) followed by the free elements of T: its diagonal (``"Diag"``), its
    lower triangle column by column (``"Symm"``) or nothing (``"Zero"``). With
    ``cholesky=True`` (Symm only) the T parameters are instead the lower triangle of L with
    T = L L', which keeps T positive semidefinite during the search; the covariance of the
    estimates is computed in the T elements themselves.
    """

    def __init__(self, data: StudyData, acov: np.ndarray, re_type: str, cholesky: bool = False):
        self.q = data.q
        self.re_type = re_type
        self.cholesky = cholesky and re_type == "Symm"
        self.batches = _batches(data, acov)
        self.observed_count = int(data.observed.sum())
        self.constant = _LOG_2PI * self.observed_count
        q = self.q
        if re_type == "Diag":
            self.tau_rows = self.tau_cols = np.arange(q)
        elif re_type == "Symm":
            # vech order: column-major lower triangle including the diagonal
            cols, rows = np.triu_indices(q)
            self.tau_rows, self.tau_cols = rows, cols
        else:
            self.tau_rows = self.tau_cols = np.arange(0)
        self.n_tau = self.tau_rows.size

    def lower_bounds(self) -> np.ndarray:
        """Lower bounds of the parameters: tau2 >= TAU2_LOWER on the diagonal of T."""
        lo = np.full(self.q + self.n_tau, -np.inf)
        if not self.cholesky:
            lo[self.q :][self.tau_rows == self.tau_cols] = TAU2_LOWER
        return lo

    def at_bound(self, x: np.ndarray) -> np.ndarray:
        """Parameters sitting on their lower bound (tau2 of Diag / Symm in the T elements)."""
        out = np.zeros(x.size, dtype=bool)
        if not self.cholesky:
            out[self.q :] = (self.tau_rows == self.tau_cols) & (x[self.q :] < AT_BOUND)
        return out

    def tau_matrix(self, theta: np.ndarray) -> np.ndarray:
        """The between-study covariance T of the tau parameters theta."""
        t = np.zeros((self.q, self.q))
        t[self.tau_rows, self.tau_cols] = theta
        if self.cholesky:
            return t @ t.T
        t[self.tau_cols, self.tau_rows] = theta
        return t

    def _jacobian(self, theta: np.ndarray) -> np.ndarray:
        """D vec(T) / d theta, with vec over the q x q entries of T taken as unconstrained."""
        q = self.q
        jac = np.zeros((q, q, self.n_tau))
        idx = np.arange(self.n_tau)
        if not self.cholesky:
            jac[self.tau_rows, self.tau_cols, idx] = 1.0
            jac[self.tau_cols, self.tau_rows, idx] = 1.0
            return jac.reshape(q * q, -1)
        # T_ab = sum_c L_ac L_bc, so dT_ab / dL_xc = [a = x] L_bc + [b = x] L_ac
        lower = np.zeros((q, q))
        lower[self.tau_rows, self.tau_cols] = theta
        jac[self.tau_rows, :, idx] += lower[:, self.tau_cols].T
        jac[:, self.tau_rows, idx] += lower[:, self.tau_cols]
        return jac.reshape(q * q, -1)

    def __call__(self, x: np.ndarray, hessian: bool):
        """-2LL at x, with its gradient and Hessian when ``hessian`` is True."""
        q, diag_t = self.q, self.re_type == "Diag"
        rho = x[:q]
        tau = None if diag_t else self.tau_matrix(x[q:])
        f = self.constant
        if hessian:
            g_rho = np.zeros(q)
            if diag_t:
                g_tau2 = np.zeros(q)
                # Accumulated in place in the blocks [[rho-rho, rho-tau2], [., tau2-tau2]].
                hess = np.zeros((2 * q, 2 * q))
                h_rr, h_rt, h_tt = hess[:q, :q], hess[:q, q:], hess[q:, q:]
                info_tt = np.zeros((q, q))  # expected information of the tau2: E[u u'] = P
            else:
                h_rr = np.zeros((q, q))
            if self.re_type == "Symm":
                g_t = np.zeros((q, q))  # d f / d T, treating the entries of T as unconstrained
                h_rt = np.zeros((q, q * q))
                h_tt = np.zeros((q * q, q * q))
        for b in self.batches:
            c = b.take
            if not diag_t:
                sigma = b.v + (tau[b.block] if b.mask is None else tau[b.block] * b.pair_mask)
            elif b.mask is None:
                sigma = b.v + np.diag(x[q:][c])
            else:
                sigma = b.v + (x[q:][c] * b.mask)[:, :, None] * np.eye(b.mask.shape[1])
            factored = spd_inverses(sigma)
            if factored is None:
                return np.inf, None, None
            logdet, p_inv = factored
            e = b.y - rho[c]
            if b.mask is not None:
                e *= b.mask
                p_inv *= b.pair_mask
            u = (p_inv @ e[:, :, None])[:, :, 0]  # P e per study
            f += logdet.sum() + np.vdot(e, u)
            if not hessian:
                continue
            g_rho[c] -= 2.0 * u.sum(axis=0)
            p_sum = p_inv.sum(axis=0)
            h_rr[b.block] += 2.0 * p_sum
            if diag_t:
                uu = u[:, :, None] * u[:, None, :]
                p_squared = (p_inv**2).sum(axis=0)
                g_tau2[c] += np.diagonal(p_sum - uu.sum(axis=0))
                h_rt[b.block] += 2.0 * (p_inv * u[:, None, :]).sum(axis=0)
                h_tt[b.block] += 2.0 * (p_inv * uu).sum(axis=0) - p_squared
                info_tt[b.block] += p_squared
            elif self.re_type == "Symm":
                g_t[b.block] += p_sum - u.T @ u
                self._symm_hessian(b.cells, p_inv, u, h_rt, h_tt)
        if not hessian:
            return f, None, None
        if diag_t:
            hess[q:, :q] = h_rt.T
            # rho and tau2 are orthogonal in expectation: the expected information is block diagonal
            expected = lambda: _blocks(h_rr, None, info_tt)  # noqa: E731
            return f, np.concatenate([g_rho, g_tau2]), ScoringFallbackHessian(hess, expected)
        if self.re_type == "Symm":
            jac = self._jacobian(x[q:])
            cross = h_rt @ jac
            h_theta = jac.T @ h_tt @ jac
            if self.cholesky:
                # curvature of T in L: d2T_ab / dL_xc dL_yc = [a=x][b=y] + [a=y][b=x]
                same_col = self.tau_cols[:, None] == self.tau_cols[None, :]
                h_theta = h_theta + 2.0 * g_t[np.ix_(self.tau_rows, self.tau_rows)] * same_col
            grad = np.concatenate([g_rho, g_t.ravel() @ jac])
            return f, grad, DenseHessian(_blocks(h_rr, cross, h_theta))
        return f, g_rho, DenseHessian(h_rr)

    def _symm_hessian(self, c, p_inv, u, h_rt, h_tt) -> None:
        """Second derivatives in the unconstrained entries of T (mapped to parameters by the
        Jacobian).

        d2f / dT_ab dT_cd = sum_i [-P_bc P_da + u_c P_da u_b + u_a P_bc u_d],
        d2f / drho_a dT_cd = sum_i 2 P_ac u_d, with P = Sigma_i^-1 and u = P e_i.
        """
        q = self.q
        m = c.size
        flat = (c[:, None] * q + c[None, :]).ravel()  # local (a, b) -> global unconstrained index
        uu = np.einsum("ib,ic->ibc", u, u)
        t1 = np.einsum("ibc,ida->abcd", p_inv, p_inv, optimize=True)
        t2 = np.einsum("ibc,ida->abcd", uu, p_inv, optimize=True)
        t3 = np.einsum("iad,ibc->abcd", uu, p_inv, optimize=True)
        h_tt[np.ix_(flat, flat)] += (-t1 + t2 + t3).reshape(m * m, m * m)
        h_rt[np.ix_(c, flat)] += 2.0 * np.einsum("iac,id->acd", p_inv, u).reshape(m, m * m)

    def q_statistic(self) -> tuple[float, int]:
        """Homogeneity statistic: the GLS fit of the common-rho model with T = 0.

        Becker (1992), Journal of Educational Statistics 17, 341-362; Cheung (2013).
        """
        q = self.q
        info = np.zeros((q, q))
        score = np.zeros(q)
        # V_i^-1 (V_i is positive definite, see _batches), without the padding
        weights = [
            spd_inverses(b.v)[1] * (1.0 if b.mask is None else b.pair_mask) for b in self.batches
        ]
        for b, w in zip(self.batches, weights):
            info[b.block] += w.sum(axis=0)
            score[b.take] += (w @ b.y[:, :, None]).sum(axis=0)[:, 0]
        beta = np.linalg.solve(info, score)
        stat = 0.0
        for b, w in zip(self.batches, weights):
            e = b.y - beta[b.take]
            if b.mask is not None:
                e *= b.mask
            stat += float(np.vdot(e, (w @ e[:, :, None])[:, :, 0]))
        return stat, self.observed_count - q


def fit_rem(data: StudyData, re_type: str) -> REMFit:
    """Fit the random-effects model by ML; see the module docstring for the model."""
    mean_matrix = weighted_mean_matrix(data)
    acov = olkin_siotani(mean_matrix)
    symm = re_type == "Symm"
    objective = REMObjective(data, acov, re_type, cholesky=symm)
    q = data.q
    if symm:
        # The Cholesky parametrisation converges best (over the reference data sets) from the
        # moment estimates; L = 0 is a stationary point of it, so the diagonal of L starts away
        # from 0, at no less than a tenth of the typical sampling variance.
        rho0, tau0, sampling = moment_start(data, np.diagonal(acov))
        on_diag = objective.tau_rows == objective.tau_cols
        theta0 = np.where(
            on_diag, np.sqrt(np.maximum(tau0, 0.1 * sampling)[objective.tau_rows]), 0.0
        )
    else:
        rho0, tau0 = univariate_start(data, np.diagonal(acov))
        if re_type == "Zero":
            rho0 = vechs(mean_matrix)  # the ML solution when T = 0 and every study is complete
        theta0 = tau0[objective.tau_rows]
    opt = newton_minimize(objective, np.concatenate([rho0, theta0]), objective.lower_bounds())
    tau = objective.tau_matrix(opt.x[q:])
    if symm:
        # Standard errors in the elements of T, as reported; rho's block does not depend on this
        # choice at an interior optimum.
        objective = REMObjective(data, acov, re_type)
        final = np.concatenate([opt.x[:q], tau[objective.tau_rows, objective.tau_cols]])
    else:
        final = opt.x
    hess = objective(final, True)[2] if symm else opt.hessian  # Diag, Zero: the Hessian at opt.x
    vcov_all, pd_ok = _covariance(hess.matrix, q, objective.at_bound(final))
    q_stat, q_df = objective.q_statistic()
    total = data.n.sum()
    # Higgins & Thompson's (2002) typical within-study variance with w_i = 1 / V_i[jj] over all
    # k studies.
    c_jj = np.diagonal(acov)
    typical = (data.k - 1) * c_jj * total / (total**2 - np.sum(data.n**2))
    tau2 = np.diagonal(tau)
    i2 = tau2 / (tau2 + typical)
    return REMFit(
        rho=opt.x[:q],
        tau=tau,
        vcov_all=vcov_all,
        hessian_pd=pd_ok,
        tau_index=(objective.tau_rows, objective.tau_cols),
        minus2ll=opt.f,
        q_stat=q_stat,
        q_df=q_df,
        i2=i2,
        optimum=opt,
        n_observed=int(data.observed.sum()),
    )


def moment_start(
    data: StudyData, acov_diagonal: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moment estimates per correlation: n-weighted mean, tau2 and the typical sampling variance.

    tau2 is the n-weighted variance around the mean minus the typical sampling variance
    acov_jj k_j / N_j (Hunter & Schmidt's bare-bones estimate), at least TAU2_LOWER.
    """
    n_w = np.where(data.observed, data.n[:, None], 0.0)
    n_cell = n_w.sum(axis=0)
    mean = (n_w * np.where(data.observed, data.r, 0.0)).sum(axis=0) / n_cell
    spread = (n_w * np.where(data.observed, data.r - mean, 0.0) ** 2).sum(axis=0) / n_cell
    sampling = acov_diagonal * data.observed.sum(axis=0) / n_cell
    return mean, np.maximum(spread - sampling, TAU2_LOWER), sampling


def univariate_start(data: StudyData, acov_diagonal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starting values: per correlation, a univariate random-effects estimate (rho_j, tau2_j).

    tau2_j is the moment estimate of :func:`moment_start` and rho_j the mean weighted by
    1 / (v_ij + tau2_j), v_ij = acov_jj / n_i. The multivariate model with a diagonal T differs
    from q separate univariate models only by the sampling covariances between a study's
    correlations, so this starts the Newton search close to the optimum. Over the reference data
    sets and a simulated grid it needed fewer iterations than the n-weighted mean, and as few
    as iterating the univariate ML estimates to convergence (Fisher scoring), which costs more.
    """
    _, tau2, _ = moment_start(data, acov_diagonal)
    w = np.where(data.observed, 1.0 / (acov_diagonal[None, :] / data.n[:, None] + tau2), 0.0)
    return (w * np.where(data.observed, data.r, 0.0)).sum(axis=0) / w.sum(axis=0), tau2


def _covariance(hess: np.ndarray, q: int, at_bound: np.ndarray) -> tuple[np.ndarray, bool]:
    """2 H^-1 over all parameters, as metaSEM reports it (a tau2 on its bound included).

    When that Hessian is not positive definite, which happens when several tau2 sit on their
    bound, the parameters on the bound are held fixed (their rows are NaN), as for any active
    constraint. If that fails too (T on the boundary of the positive semidefinite cone), rho's
    covariance is taken given T; the second value is then False.
    """
    vcov, ok = _twice_inverse(hess)
    if ok:
        return vcov, True
    keep = ~at_bound
    sub, ok = _twice_inverse(hess[np.ix_(keep, keep)])
    vcov = np.full(hess.shape, np.nan)
    if ok:
        vcov[np.ix_(keep, keep)] = sub
    else:
        vcov[:q, :q] = _twice_inverse(hess[:q, :q])[0]
    return vcov, ok


def _twice_inverse(hess: np.ndarray) -> tuple[np.ndarray, bool]:
    """2 H^-1 (the ML sampling covariance for a -2LL objective), NaN when H is not positive
    definite.
    """
    try:
        chol = np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return np.full(hess.shape, np.nan), False
    inv_chol = np.linalg.inv(chol)
    return 2.0 * inv_chol.T @ inv_chol, True


def q_pvalue(q_stat: float, q_df: int) -> float:
    """p-value of the homogeneity statistic Q on q_df degrees of freedom (NaN without df)."""
    return float(special.chdtrc(q_df, q_stat)) if q_df > 0 else float("nan")


# ----------------------------------------------------------------------------------------------
# The pooled correlations given T: generalised least squares, study by study
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GLSTerms:
    """Each study's share of the GLS estimate of the pooled correlations, for a given T.

    With the between-study covariance T held fixed, the maximum-likelihood estimate of rho in the
    random-effects model is the generalised least squares solution

        rho = (sum_i X_i' W_i X_i)^-1 sum_i X_i' W_i r_i,   W_i = (V_i + T)^-1,

    with sampling covariance (sum_i X_i' W_i X_i)^-1 (Cheung, 2013). Keeping each study's
    information X_i' W_i X_i and score X_i' W_i r_i apart makes the estimate without any one
    study a matter of two subtractions: the approximate leave-one-out of
    :func:`masem.leave_one_out`.

    Attributes
    ----------
    variables : tuple of str
        The variables, in the order of the matrices.
    n : numpy.ndarray
        (k,) sample sizes.
    information : numpy.ndarray
        (k, q, q): X_i' W_i X_i, zero outside the correlations study i reports.
    score : numpy.ndarray
        (k, q): X_i' W_i r_i.
    """

    variables: tuple[str, ...]
    n: np.ndarray
    information: np.ndarray
    score: np.ndarray


def gls_terms(matrices, n, variables, tau: np.ndarray) -> GLSTerms:
    """The per-study GLS terms of the random-effects model with the between-study covariance ``tau``
    fixed.

    Parameters
    ----------
    matrices, n, variables
        As for :func:`masem.tssem1`.
    tau : numpy.ndarray
        (q, q) between-study covariance of the correlations (``TSSEM1Result.tau2_matrix``).

    Returns
    -------
    GLSTerms
        V_i is the Olkin-Siotani covariance at the sample-size-weighted mean matrix divided by
        n_i, as in :func:`masem.tssem1`.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> s1 = masem.tssem1(ex.matrices, ex.n)
    >>> terms = gls_terms(ex.matrices, ex.n, None, s1.tau2_matrix.to_numpy())
    >>> terms.information.shape, terms.score.shape
    ((6, 3, 3), (6, 3))
    """
    data = prepare_studies(matrices, n, variables)
    acov = olkin_siotani(weighted_mean_matrix(data))
    k, q = data.r.shape
    info = np.zeros((k, q, q))
    score = np.zeros((k, q))
    for i in range(k):
        cells = np.flatnonzero(data.observed[i])
        block = np.ix_(cells, cells)
        w = np.linalg.inv(acov[block] / data.n[i] + tau[block])
        info[i][block] = w
        score[i, cells] = w @ data.r[i, cells]
    return GLSTerms(variables=data.variables, n=data.n, information=info, score=score)
