"""The FIML likelihood of a one-stage MASEM and its exact derivatives.

For study i with observed correlations r_i (q_i of them), implied correlations rho_i(theta),
sampling covariance V_i = acov / n_i and between-study covariance T(tau):

    -2LL = sum_i [q_i log(2 pi) + log|Sigma_i| + e_i' Sigma_i^-1 e_i],
    Sigma_i = (T + V_i)_oo,  e_i = (r_i - rho_i)_o

(Jak & Cheung, 2020; Cheung, 2015, ch. 5: the random-effects model with known V_i). With
P_i = Sigma_i^-1, u_i = P_i e_i and J_i = d rho_i / d theta:

    d(-2LL)/d theta = -2 sum_i J_i' u_i
    d(-2LL)/d tau_j = sum_i t_j [P_i,jj - u_i,j^2]      (Diag, tau_j = log t_j, t_j = tau2_j)

The expected information (Fisher scoring; Jennrich & Sampson, 1976) is 2 sum J'PJ for theta,
sum_i t_j t_l P_i,jl^2 for tau and 0 between them; the observed Hessian adds
-2 sum_i sum_c u_i,c d^2 rho_i,c / d theta d theta' (analytic: Structure.curvature),
2 t_j sum_i (J_i' P_i)_j u_i,j between theta and tau_j and
delta_jl t_j (P_jj - u_j^2) + t_j t_l (2 P_jl u_j u_l - P_jl^2) within tau.

Studies that report the same correlations are evaluated in one batch (one pattern of observed
cells), with one Cholesky factorisation per study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from masem._linalg import patterns, spd_inverses

LOG_2PI = math.log(2.0 * math.pi)
# Where the optimiser stops tau2: a between-study variance of 1e-10 is zero for every purpose.
TAU2_LOWER = 1e-10
LOG_TAU2_LOWER = math.log(TAU2_LOWER)


@dataclass
class _Batch:
    cols: np.ndarray  # observed vechs cells of the pattern
    studies: np.ndarray
    r: np.ndarray  # (k_b, q_b)
    omega: np.ndarray  # acov[cols][:, cols]
    inv_n: np.ndarray  # (k_b,)


class Likelihood:
    """-2LL of the data under a mean function ``mean(theta) -> (rho (k, q), J (k, q, n))``.

    Parameters are ``theta`` (the mean function's) followed by the heterogeneity parameters:
    ``re_type="Diag"``: one log tau2 per correlation; ``"Zero"``: none.
    """

    def __init__(
        self,
        r: np.ndarray,
        observed: np.ndarray,
        n: np.ndarray,
        acov: np.ndarray,
        mean,
        curvature,
        n_theta: int,
        re_type: str = "Diag",
    ):
        self.mean = mean
        self.curvature = curvature
        self.k = r.shape[0]
        self.n_theta = n_theta
        self.q = r.shape[1]
        self.re_type = re_type
        q = self.q
        self.n_tau = {"Diag": q, "Symm": q * (q + 1) // 2, "Zero": 0}[re_type]
        # Symm: T = L L', L lower triangular (its elements, row by row, are the parameters), so
        # that every parameter value gives a positive semi-definite T; results report T as
        # metaSEM parametrises it (see symm_report).
        self.chol_rows, self.chol_cols = np.tril_indices(q)
        self.n_params = n_theta + self.n_tau
        self.batches = [
            _Batch(
                cols, studies, r[np.ix_(studies, cols)], acov[np.ix_(cols, cols)], 1.0 / n[studies]
            )
            for cols, studies in patterns(observed)
            if cols.size
        ]
        self.n_observed = int(observed.sum())

    def T(self, params: np.ndarray) -> np.ndarray:
        """The between-study covariance: diag(exp(Tau1)) (Diag), L L' (Symm) or 0 (Zero)."""
        if self.re_type == "Zero":
            return np.zeros((self.q, self.q))
        if self.re_type == "Diag":
            return np.diag(np.exp(params[self.n_theta :]))
        L = np.zeros((self.q, self.q))
        L[self.chol_rows, self.chol_cols] = params[self.n_theta :]
        return L @ L.T

    def _factor(self, batch: _Batch, T: np.ndarray):
        sigma = (
            batch.omega[None] * batch.inv_n[:, None, None] + T[np.ix_(batch.cols, batch.cols)][None]
        )
        if not np.isfinite(sigma).all():
            return None
        try:
            return spd_inverses(sigma)
        except np.linalg.LinAlgError:
            return None

    def value(self, params: np.ndarray) -> float:
        """-2LL (inf where T or a Sigma_i is not positive (semi-)definite)."""
        rho, _ = self.mean(params[: self.n_theta], jacobian=False)
        T = self.T(params)
        total = self.n_observed * LOG_2PI
        for b in self.batches:
            factored = self._factor(b, T)
            if factored is None:
                return math.inf
            logdet, P = factored
            e = b.r - rho[np.ix_(b.studies, b.cols)]
            total += float(logdet.sum() + np.einsum("ki,kij,kj->", e, P, e))
        return total

    def per_study(self, params: np.ndarray, k: int) -> np.ndarray:
        """Each study's -2LL term (0 for a study without observed correlations)."""
        rho, _ = self.mean(params[: self.n_theta], jacobian=False)
        T = self.T(params)
        out = np.zeros(k)
        for b in self.batches:
            logdet, P = self._factor(b, T)
            e = b.r - rho[np.ix_(b.studies, b.cols)]
            out[b.studies] = b.cols.size * LOG_2PI + logdet + np.einsum("ki,kij,kj->k", e, P, e)
        return out

    def derivatives(self, params: np.ndarray, observed_hessian: bool):
        """(-2LL, gradient, observed Hessian or None, expected information).

        Returns (inf, None, None, None) where a Sigma_i is not positive definite.
        """
        nt = self.n_theta
        theta = params[:nt]
        rho, J = self.mean(theta, jacobian=True)
        T = self.T(params)
        tau2 = np.diag(T).copy()
        diag_re = self.re_type == "Diag"
        f = self.n_observed * LOG_2PI
        g = np.zeros(self.n_params)
        info = np.zeros((self.n_params, self.n_params))
        hess = np.zeros((self.n_params, self.n_params)) if observed_hessian else None
        u_all = np.zeros((self.k, self.q)) if observed_hessian else None
        Q = np.zeros((self.q, self.q))  # sum_i (P_i - u_i u_i') placed at the observed cells
        PP = [] if self.re_type == "Symm" else None
        for b in self.batches:
            factored = self._factor(b, T)
            if factored is None:
                return math.inf, None, None, None
            logdet, P = factored
            e = b.r - rho[np.ix_(b.studies, b.cols)]
            u = np.einsum("kij,kj->ki", P, e)
            if observed_hessian:
                u_all[np.ix_(b.studies, b.cols)] = u
            f += float(logdet.sum() + np.einsum("ki,ki->", e, u))
            Jb = J[b.studies][:, b.cols, :]  # (k_b, q_b, nt)
            PJ = P @ Jb
            g[:nt] -= 2.0 * np.einsum("kcn,kc->n", Jb, u)
            info[:nt, :nt] += 2.0 * np.einsum("kcn,kcm->nm", Jb, PJ)
            if not self.n_tau:
                continue
            Q[np.ix_(b.cols, b.cols)] += (P - np.einsum("kj,kl->kjl", u, u)).sum(axis=0)
            if PP is not None:
                PP.append((b.cols, P))
            if diag_re:
                t = tau2[b.cols]
                tau = nt + b.cols
                diagP = np.einsum("kii->ki", P)
                P2 = (P * P).sum(axis=0)
                info[np.ix_(tau, tau)] += np.outer(t, t) * P2
                if observed_hessian:
                    uu = np.einsum("kj,kl->kjl", u, u)
                    block = np.outer(t, t) * ((2.0 * P * uu).sum(axis=0) - P2)
                    block[np.diag_indices_from(block)] += t * (diagP - u * u).sum(axis=0)
                    hess[np.ix_(tau, tau)] += block
                    cross = 2.0 * t[None, :] * np.einsum("kcn,kc->nc", PJ, u)  # (nt, q_b)
                    hess[:nt, tau] += cross
                    hess[tau, :nt] += cross.T
        if self.n_tau:
            g[nt:] = self._tau_gradient(Q, T, params)
        if self.re_type == "Symm":
            info[nt:, nt:] = self._symm_information(PP, params)
            if observed_hessian:
                self._symm_hessian_columns(params, hess)
        if observed_hessian:
            hess[:nt, :nt] = info[:nt, :nt] - 2.0 * self.curvature(theta, u_all).sum(axis=0)
        return f, g, hess, info

    def _dT(self, params: np.ndarray) -> list[np.ndarray]:
        """The derivatives dT / dL_ab = E_ab L' + L E_ba of every Cholesky element (Symm)."""
        L = np.zeros((self.q, self.q))
        L[self.chol_rows, self.chol_cols] = params[self.n_theta :]
        out = []
        for a, b in zip(self.chol_rows, self.chol_cols):
            d = np.zeros((self.q, self.q))
            d[a, :] += L[:, b]
            d[:, a] += L[:, b]
            out.append(d)
        return out

    def _tau_gradient(self, Q: np.ndarray, T: np.ndarray, params: np.ndarray) -> np.ndarray:
        """d(-2LL)/d tau_a = tr(Q dT_a), Q = sum_i (P_i - u_i u_i')."""
        if self.re_type == "Diag":
            return np.diag(Q) * np.diag(T)
        L = np.zeros((self.q, self.q))
        L[self.chol_rows, self.chol_cols] = params[self.n_theta :]
        return (2.0 * Q @ L)[self.chol_rows, self.chol_cols]

    def _symm_information(self, PP, params: np.ndarray) -> np.ndarray:
        """Expected information of the heterogeneity parameters: sum_i tr(P_i dT_a P_i dT_b)."""
        dT = self._dT(params)
        out = np.zeros((len(dT), len(dT)))
        for cols, P in PP:
            M = np.stack([P @ d[np.ix_(cols, cols)][None] for d in dT])  # (n_tau, k_b, q_b, q_b)
            out += np.einsum("akij,bkji->ab", M, M)
        return out

    def _symm_hessian_columns(self, params: np.ndarray, hess: np.ndarray) -> None:
        """Observed Hessian columns of the heterogeneity parameters: central differences of the
        exact gradient (a symmetric T has many such parameters only for small q).
        """
        nt = self.n_theta
        for a in range(nt, self.n_params):
            h = 1e-5 * max(1.0, abs(params[a]))
            up, down = params.copy(), params.copy()
            up[a] += h
            down[a] -= h
            gu = self.derivatives(up, observed_hessian=False)[1]
            gd = self.derivatives(down, observed_hessian=False)[1]
            column = (gu - gd) / (2.0 * h)
            hess[:, a] = column
            hess[a, :] = column


def symm_report(
    params: np.ndarray, vcov: np.ndarray, n_theta: int, q: int
) -> tuple[np.ndarray, np.ndarray]:
    """A Symm fit in metaSEM's parametrisation (create.Tau2): Tau1_j = log T_jj, then the
    correlations Cor = T_jl / sqrt(T_jj T_ll) (strict lower triangle, column by column), with their
    covariance by the delta method from that of the Cholesky elements.
    """
    rows, cols = np.tril_indices(q)
    cor_c, cor_r = np.triu_indices(q, 1)  # column-major strict lower triangle: (r, c) with r > c

    def transform(lvec: np.ndarray) -> np.ndarray:
        Lm = np.zeros((q, q))
        Lm[rows, cols] = lvec
        Tm = Lm @ Lm.T
        sd = np.sqrt(np.diag(Tm))
        return np.concatenate([np.log(np.diag(Tm)), Tm[cor_r, cor_c] / (sd[cor_r] * sd[cor_c])])

    lvec = params[n_theta:]
    value = transform(lvec)
    h = 1e-6
    jac = np.column_stack(
        [(transform(lvec + h * e) - transform(lvec - h * e)) / (2 * h) for e in np.eye(lvec.size)]
    )
    n = n_theta + value.size
    full = np.zeros((n, n_theta + lvec.size))
    full[:n_theta, :n_theta] = np.eye(n_theta)
    full[n_theta:, n_theta:] = jac
    return np.concatenate([params[:n_theta], value]), full @ vcov @ full.T
