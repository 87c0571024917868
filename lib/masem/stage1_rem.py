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
from scipy import stats

from masem._stage1_common import (
    DenseHessian,
    Optimum,
    StudyData,
    newton_minimize,
    patterns,
    weighted_mean_matrix,
)
from masem.effects import olkin_siotani, vechs
from masem.errors import DataError

TAU2_LOWER = 1e-10  # metaSEM's RE.lbound: the lower bound of the tau2 (diagonal) parameters
AT_BOUND = 100 * TAU2_LOWER  # a tau2 below this is reported as on its bound
_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class _Group:
    """Studies that report the same correlations, evaluated as one batch."""

    cells: np.ndarray  # indices into the q correlations
    v: np.ndarray  # (k_g, q_g, q_g) sampling covariances
    y: np.ndarray  # (k_g, q_g) observed correlations
    v_inv: np.ndarray  # (k_g, q_g, q_g) for the homogeneity test


@dataclass(frozen=True)
class REMFit:
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
        self.groups = []
        for cells, rows in patterns(data.observed):
            smallest = float(np.linalg.eigvalsh(acov[np.ix_(cells, cells)]).min())
            if smallest <= 0:
                who = ", ".join(data.study_name(i) for i in rows)
                raise DataError(
                    f"the Olkin-Siotani sampling covariance of the correlations reported by {who} is not "
                    f"positive definite at the weighted mean correlation matrix (smallest eigenvalue "
                    f"{smallest:.3g}); the mean correlations are too extreme (near +-1) or mutually "
                    "inconsistent. Check the data for typos."
                )
            v = acov[np.ix_(cells, cells)][None, :, :] / data.n[rows, None, None]
            self.groups.append(
                _Group(cells=cells, v=v, y=data.r[np.ix_(rows, cells)], v_inv=np.linalg.inv(v))
            )
        self.constant = _LOG_2PI * int(data.observed.sum())
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
        t = np.zeros((self.q, self.q))
        t[self.tau_rows, self.tau_cols] = theta
        if self.cholesky:
            return t @ t.T
        t[self.tau_cols, self.tau_rows] = theta
        return t

    def _jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d vec(T) / d theta, with vec over the q x q entries of T taken as unconstrained."""
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
        q = self.q
        rho, tau = x[:q], self.tau_matrix(x[q:])
        f = self.constant
        g_rho = np.zeros(q)
        g_t = np.zeros((q, q))  # d f / d T, treating the entries of T as unconstrained
        if hessian:
            h_rr = np.zeros((q, q))
            if self.re_type == "Diag":
                h_rt = np.zeros((q, q))
                h_tt = np.zeros((q, q))
            elif self.re_type == "Symm":
                h_rt = np.zeros((q, q * q))
                h_tt = np.zeros((q * q, q * q))
        for grp in self.groups:
            c = grp.cells
            sigma = grp.v + tau[np.ix_(c, c)]
            try:
                chol = np.linalg.cholesky(sigma)
            except np.linalg.LinAlgError:
                return np.inf, None, None
            p_inv = np.linalg.inv(sigma)
            e = grp.y - rho[c]
            u = np.einsum("iab,ib->ia", p_inv, e)
            f += 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum() + np.einsum("ia,ia->", e, u)
            if not hessian:
                continue
            g_rho[c] -= 2.0 * u.sum(axis=0)
            p_sum = p_inv.sum(axis=0)
            g_t[np.ix_(c, c)] += p_sum - u.T @ u
            h_rr[np.ix_(c, c)] += 2.0 * p_sum
            if self.re_type == "Diag":
                h_rt[np.ix_(c, c)] += 2.0 * np.einsum("iac,ic->ac", p_inv, u)
                h_tt[np.ix_(c, c)] += 2.0 * np.einsum("ia,iac,ic->ac", u, p_inv, u) - (p_inv**2).sum(axis=0)
            elif self.re_type == "Symm":
                self._symm_hessian(c, p_inv, u, h_rt, h_tt)
        if not hessian:
            return f, None, None
        if self.re_type == "Diag":
            grad = np.concatenate([g_rho, np.diagonal(g_t)])
            hess = np.block([[h_rr, h_rt], [h_rt.T, h_tt]])
        elif self.re_type == "Symm":
            jac = self._jacobian(x[q:])
            cross = h_rt @ jac
            h_theta = jac.T @ h_tt @ jac
            if self.cholesky:
                # curvature of T in L: d2T_ab / dL_xc dL_yc = [a=x][b=y] + [a=y][b=x]
                same_col = self.tau_cols[:, None] == self.tau_cols[None, :]
                h_theta = h_theta + 2.0 * g_t[np.ix_(self.tau_rows, self.tau_rows)] * same_col
            grad = np.concatenate([g_rho, g_t.ravel() @ jac])
            hess = np.block([[h_rr, cross], [cross.T, h_theta]])
        else:
            grad, hess = g_rho, h_rr
        return f, grad, DenseHessian(hess)

    def _symm_hessian(self, c, p_inv, u, h_rt, h_tt) -> None:
        """Second derivatives in the unconstrained entries of T (mapped to parameters by the Jacobian).

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
        for grp in self.groups:
            c = grp.cells
            info[np.ix_(c, c)] += grp.v_inv.sum(axis=0)
            score[c] += np.einsum("iab,ib->a", grp.v_inv, grp.y)
        beta = np.linalg.solve(info, score)
        stat = 0.0
        n_obs = 0
        for grp in self.groups:
            e = grp.y - beta[grp.cells]
            stat += float(np.einsum("ia,iab,ib->", e, grp.v_inv, e))
            n_obs += e.size
        return stat, n_obs - q


def fit_rem(data: StudyData, re_type: str) -> REMFit:
    """Fit the random-effects model by ML; see the module docstring for the model."""
    mean_matrix = weighted_mean_matrix(data)
    acov = olkin_siotani(mean_matrix)
    symm = re_type == "Symm"
    objective = REMObjective(data, acov, re_type, cholesky=symm)
    q = data.q
    rho0 = vechs(mean_matrix)
    # Start T at a method-of-moments diagonal (observed minus expected sampling variance),
    # floored at a tenth of the typical sampling variance so no start sits on the bound.
    w = np.where(data.observed, data.n[:, None], 0.0)
    n_cell = w.sum(axis=0)
    spread = (w * np.nan_to_num(data.r - rho0) ** 2).sum(axis=0) / n_cell
    sampling = np.diagonal(acov) * data.observed.sum(axis=0) / n_cell
    tau0 = np.maximum(spread - sampling, 0.1 * sampling)
    if symm:
        on_diag = objective.tau_rows == objective.tau_cols
        theta0 = np.where(on_diag, np.sqrt(tau0[objective.tau_rows]), 0.0)
    else:
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
    _, _, hess = objective(final, True)
    vcov_all, pd_ok = _covariance(hess.matrix, q, objective.at_bound(final))
    q_stat, q_df = objective.q_statistic()
    total = data.n.sum()
    # Higgins & Thompson's (2002) typical within-study variance with w_i = 1 / V_i[jj] over all k studies.
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
    """2 H^-1 (the ML sampling covariance for a -2LL objective), NaN when H is not positive definite."""
    try:
        chol = np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return np.full(hess.shape, np.nan), False
    inv_chol = np.linalg.inv(chol)
    return 2.0 * inv_chol.T @ inv_chol, True


def q_pvalue(q_stat: float, q_df: int) -> float:
    return float(stats.chi2.sf(q_stat, q_df)) if q_df > 0 else float("nan")
