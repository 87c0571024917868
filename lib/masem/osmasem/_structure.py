"""The moderated structural model of a one-stage MASEM: parameters, implied correlations, Jacobians.

A(x_i) = A0 + sum_m A_m x_im on the moderated paths, S(x_i) = S0 + sum_m S_m x_im on the moderated
covariances, B_i = (I - A(x_i))^-1 and the implied correlation matrix of study i is
R_i = F B_i S_i B_i' F' (Jak & Cheung, 2020, eq. 6-8). The error variances of the dependent
variables are not parameters: they are whatever makes diag(B_i S_i B_i') = 1 (metaSEM's
``create.vechsR``). A variable is dependent when a free path points at it. For a recursive model
this is the level-by-level rule of metaSEM (exogenous variables first, then each level of
dependent variables from the levels before it); here it is solved in one linear system
M s = 1 - diag(B S0 B')_d with M = (B_dd)^2 elementwise, which is triangular for a recursive model
and gives the same values. Observed variables with a free variance are computed the same way (a
correlation structure has unit variances).

Everything is evaluated for all studies at once: stacks of (k, m, m) matrices.

References
----------
Jak, S., & Cheung, M. W.-L. (2020). Meta-analytic structural equation modeling with moderating
effects on SEM parameters. *Psychological Methods*, 25(4), 430-455.
Neudecker, H., & Satorra, A. (1991). Linear structural relations: Gradient and Hessian of the
fitting function. *Statistics & Probability Letters*, 11, 57-61.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from masem._linalg import ram_inverse
from masem.effects import vechs_indices
from masem.errors import ModelError


@dataclass(frozen=True)
class Cell:
    """One free element of A or S and where its value comes from."""

    matrix: str  # "A" or "S"
    row: int
    col: int
    param: int  # index of its base parameter
    slopes: tuple[tuple[int, int], ...]  # (moderator column, slope parameter index)


class Structure:
    """Parameters and implied correlations of a (moderated) RAM model.

    Parameters
    ----------
    ram : RAMModel
        The parsed model; its observed variables are the data's variables, in the data's order.
    moderated : dict of str to list of str
        Parameter name -> the moderators that shift it (slopes named ``"name:moderator"``).
    moderators : list of str
        The moderator columns, in the order of the rows of ``x`` given to :meth:`evaluate`.
    """

    def __init__(self, ram, moderated: dict[str, list[str]], moderators: list[str]):
        self.moderators = tuple(moderators)
        variables = list(ram.variables)
        index = {v: i for i, v in enumerate(variables)}
        self.variables = variables
        self.m = len(variables)
        self.p = len(ram.observed)
        self.A0 = np.zeros((self.m, self.m))
        self.S0 = np.zeros((self.m, self.m))
        free_a = np.zeros((self.m, self.m), dtype=bool)
        for c in ram.cells:
            if c.matrix == "A" and c.fixed is None:
                free_a[index[c.row], index[c.col]] = True
        dependent = free_a.any(axis=1)
        computed = dependent.copy()
        for c in ram.cells:
            if c.matrix == "S" and c.row == c.col and c.fixed is None and index[c.row] < self.p:
                computed[index[c.row]] = True
        self.computed = np.flatnonzero(computed)
        names: list[str] = []
        starts: list[float] = []
        kinds: list[str] = []
        raw_cells: list[tuple[str, int, int, int]] = []
        for c in ram.cells:
            i, j = index[c.row], index[c.col]
            if c.matrix == "S" and i == j and computed[i]:
                continue  # an error variance: solved from diag = 1, not a parameter
            if c.fixed is not None:
                target = self.A0 if c.matrix == "A" else self.S0
                target[i, j] = c.fixed
                if c.matrix == "S":
                    target[j, i] = c.fixed
                continue
            if c.name not in names:
                names.append(c.name)
                starts.append(ram._start(c))
                kinds.append(
                    "path" if c.matrix == "A" else ("variance" if i == j else "covariance")
                )
            raw_cells.append((c.matrix, i, j, names.index(c.name)))
        self.base_names = tuple(names)
        unknown = sorted(set(moderated) - set(names))
        if unknown:
            raise ModelError(
                f"cannot moderate {unknown}: not a free parameter of the model; free "
                f"parameters: {names}"
            )
        slope_names: list[str] = []
        slope_of: dict[tuple[int, int], int] = {}
        for name in names:
            for mod in moderated.get(name, []):
                slope_of[(names.index(name), moderators.index(mod))] = len(names) + len(slope_names)
                slope_names.append(f"{name}:{mod}")
        cells = []
        for matrix, i, j, k in raw_cells:
            slopes = tuple(
                (mod, slope_of[(k, mod)]) for mod in range(len(moderators)) if (k, mod) in slope_of
            )
            cells.append(Cell(matrix, i, j, k, slopes))
        self.cells = tuple(cells)
        self.names = tuple(names) + tuple(slope_names)
        self.kinds = tuple(kinds) + ("slope",) * len(slope_names)
        self.start = np.concatenate([np.array(starts, dtype=float), np.zeros(len(slope_names))])
        self.n_params = len(self.names)
        a = [(c.row, c.col) for c in cells if c.matrix == "A"]
        s = [(c.row, c.col) for c in cells if c.matrix == "S"]
        self.a_idx = (
            tuple(np.array(x, dtype=int) for x in zip(*a)) if a else (np.zeros(0, int),) * 2
        )
        self.s_idx = (
            tuple(np.array(x, dtype=int) for x in zip(*s)) if s else (np.zeros(0, int),) * 2
        )
        self.a_cells = [c for c in cells if c.matrix == "A"]
        self.s_cells = [c for c in cells if c.matrix == "S"]
        self.rows, self.cols = vechs_indices(self.p)

    # --- parameter values per study ------------------------------------------------------------

    def _cell_values(self, theta: np.ndarray, x: np.ndarray, cells) -> np.ndarray:
        """(k, n_cells) value of each cell in each study."""
        out = np.tile(theta[[c.param for c in cells]], (x.shape[0], 1))
        for n, c in enumerate(cells):
            for mod, slope in c.slopes:
                out[:, n] += theta[slope] * x[:, mod]
        return out

    def _cell_map(self, x: np.ndarray, cells) -> np.ndarray:
        """(k, n_cells, n_params): d cell value / d parameter in each study."""
        out = np.zeros((x.shape[0], len(cells), self.n_params))
        for n, c in enumerate(cells):
            out[:, n, c.param] = 1.0
            for mod, slope in c.slopes:
                out[:, n, slope] = x[:, mod]
        return out

    def matrices(
        self, theta: np.ndarray, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A, S (error variances filled in) and B = (I - A)^-1 for every study: (k, m, m) each.

        Raises ModelError when I - A is singular or the error variances cannot be solved.
        """
        k = x.shape[0]
        A = np.broadcast_to(self.A0, (k, self.m, self.m)).copy()
        S = np.broadcast_to(self.S0, (k, self.m, self.m)).copy()
        if self.a_cells:
            A[:, self.a_idx[0], self.a_idx[1]] = self._cell_values(theta, x, self.a_cells)
        if self.s_cells:
            values = self._cell_values(theta, x, self.s_cells)
            S[:, self.s_idx[0], self.s_idx[1]] = values
            S[:, self.s_idx[1], self.s_idx[0]] = values
        B = ram_inverse(A)
        d = self.computed
        if d.size:
            Bd = B[:, d, :]
            sigma0 = np.einsum("kij,kjl,kil->ki", Bd, S, Bd)
            M = B[:, d][:, :, d] ** 2
            try:
                s = np.linalg.solve(M, (1.0 - sigma0)[..., None])[..., 0]
            except np.linalg.LinAlgError:
                raise ModelError(
                    "the error variances cannot be solved from diag(R) = 1 for this model (a "
                    "feedback loop?); OSMASEM needs them as functions of the other parameters"
                ) from None
            S[:, d, d] = s
        return A, S, B

    def implied(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """(k, q) implied vechs correlations."""
        _, S, B = self.matrices(theta, x)
        U = B[:, : self.p, :]
        sigma = U @ S @ U.transpose(0, 2, 1)
        return sigma[:, self.rows, self.cols]

    def evaluate(
        self, theta: np.ndarray, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Implied vechs correlations (k, q), their Jacobian (k, q, n_params) and the error
        variances (k, |d|).

        dSigma/dA_ab = F B e_a e_b' B S B' F' + transpose; dSigma/dS_ab = F B (e_a e_b' + e_b e_a')
        B' F' (Neudecker & Satorra, 1991); the computed error variances s add their implicit
        derivative ds = -M^-1 d diag(B S B')_d.
        """
        _, S, B = self.matrices(theta, x)
        W = B @ S @ B.transpose(0, 2, 1)  # (k, m, m)
        r, c = self.rows, self.cols
        # Rows of the Jacobian: the q implied correlations, then diag(W) of the computed variables.
        out_r = np.concatenate([r, self.computed])
        out_c = np.concatenate([c, self.computed])
        J = np.zeros((x.shape[0], out_r.size, self.n_params))
        if self.a_cells:
            ai, aj = self.a_idx
            # dW_rc / dA_ab = B_ra W_bc + B_ca W_br
            JA = B[:, out_r][:, :, ai] * W[:, aj][:, :, out_c].transpose(0, 2, 1)
            JA += B[:, out_c][:, :, ai] * W[:, aj][:, :, out_r].transpose(0, 2, 1)
            J += JA @ self._cell_map(x, self.a_cells)
        if self.s_cells:
            si, sj = self.s_idx
            # dW_rc / dS_ab = B_ra B_cb + B_rb B_ca (a != b); B_ra B_ca on the diagonal
            Br, Bc = B[:, out_r], B[:, out_c]
            JS = Br[:, :, si] * Bc[:, :, sj] + Br[:, :, sj] * Bc[:, :, si]
            JS *= np.where(si == sj, 0.5, 1.0)
            J += JS @ self._cell_map(x, self.s_cells)
        q = r.size
        rho = W[:, r, c]
        if self.computed.size:
            d = self.computed
            Jd = J[:, q:, :]  # d diag(W)_d / d theta with s held fixed
            M = B[:, d][:, :, d] ** 2
            ds = -np.linalg.solve(M, Jd)
            Js = B[:, r][:, :, d] * B[:, c][:, :, d]  # d W_rc / d s_k = B_rk B_ck
            J = J[:, :q, :] + Js @ ds
            s = S[:, d, d]
        else:
            s = np.zeros((x.shape[0], 0))
        return rho, J, s

    def curvature(self, theta: np.ndarray, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """(k, n, n): sum_c u_ic d^2 rho_ic / d theta d theta' for each study i.

        With U the symmetric matrix holding u_c / 2 at (r_c, c_c) and (c_c, r_c), the sum is the
        Hessian of tr(U W), W = B S B'. The computed error variances s(theta) solve
        diag(W)_d = 1; by the implicit function theorem the Hessian of tr(U W(y, s(y))) is that
        of the Lagrangian L = tr((U - Lambda) W) at fixed Lambda = diag(lambda),
        lambda = M^-T (B'UB)_dd, plus its cross terms with s through ds/dy = -M^-1 dh/dy.
        Second derivatives of W: d^2 B / dA_ab dA_cd = B E_cd B E_ab B + B E_ab B E_cd B, so
        d^2 tr(U W) / dA_ab dA_cd = 2 (B_da G_bc + B_bc G_da) + 2 W_bd K_ca with G = W U B,
        K = B'UB; d^2 / dA_ab dS_cd = 2 (B_bc K_da + B_bd K_ca) (c != d; 2 B_bc K_ca for c = d);
        W is linear in S.
        """
        k = x.shape[0]
        _, S, B = self.matrices(theta, x)
        W = B @ S @ B.transpose(0, 2, 1)
        r, c = self.rows, self.cols
        Uhat = np.zeros((k, self.m, self.m))
        Uhat[:, r, c] = u / 2.0
        Uhat[:, c, r] += u / 2.0
        d = self.computed
        n_a = len(self.a_cells)
        ai, aj = self.a_idx  # A[ai, aj]: path from aj to ai
        si, sj = self.s_idx
        cells_y = self.a_cells + self.s_cells
        Map = self._cell_map(x, cells_y)  # (k, n_y, n)
        if d.size:
            K0 = B.transpose(0, 2, 1) @ Uhat @ B
            M = B[:, d][:, :, d] ** 2
            lam = np.linalg.solve(
                M.transpose(0, 2, 1), np.einsum("kjj->kj", K0[:, d][:, :, d])[..., None]
            )[..., 0]
            Uhat[:, d, d] -= lam
        G = W @ Uhat @ B
        K = B.transpose(0, 2, 1) @ Uhat @ B
        n_y = len(cells_y)
        L = np.zeros((k, n_y, n_y))
        if n_a:
            # alpha-alpha: cell i = (a_i, b_i) = (ai, aj), cell j = (c_j, d_j)
            a, b = ai, aj
            cc, dd = ai, aj
            L[:, :n_a, :n_a] = 2.0 * (
                B[:, dd][:, :, a].transpose(0, 2, 1) * G[:, b][:, :, cc]
                + B[:, b][:, :, cc] * G[:, dd][:, :, a].transpose(0, 2, 1)
                + W[:, b][:, :, dd] * K[:, cc][:, :, a].transpose(0, 2, 1)
            )
            if self.s_cells:
                # alpha-sigma: 2 (B_bc K_da + B_bd K_ca), halved on the diagonal of S
                half = np.where(si == sj, 0.5, 1.0)
                block = (
                    2.0
                    * (
                        B[:, b][:, :, si] * K[:, sj][:, :, a].transpose(0, 2, 1)
                        + B[:, b][:, :, sj] * K[:, si][:, :, a].transpose(0, 2, 1)
                    )
                    * half
                )
                L[:, :n_a, n_a:] = block
                L[:, n_a:, :n_a] = block.transpose(0, 2, 1)
        if d.size and n_a:
            # d s / d y = -M^-1 d diag(W)_d / d y at fixed s
            h_y = np.zeros((k, d.size, n_y))
            h_y[:, :, :n_a] = 2.0 * B[:, d][:, :, a] * W[:, b][:, :, d].transpose(0, 2, 1)
            if self.s_cells:
                half = np.where(si == sj, 0.5, 1.0)
                h_y[:, :, n_a:] = B[:, d][:, :, si] * B[:, d][:, :, sj] * 2.0 * half
            s_y = -np.linalg.solve(M, h_y)
            L_ys = np.zeros((k, n_y, d.size))
            L_ys[:, :n_a, :] = 2.0 * B[:, b][:, :, d] * K[:, d][:, :, a].transpose(0, 2, 1)
            cross = L_ys @ s_y
            L += cross + cross.transpose(0, 2, 1)
        elif d.size and self.s_cells:
            pass  # W is linear in S and in s: no curvature without paths
        return Map.transpose(0, 2, 1) @ L @ Map
