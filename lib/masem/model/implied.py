"""Implied correlations of a RAM model and their exact Jacobian, for a given parameter vector.

The estimators evaluate a :class:`~masem.model.ram.RAMModel` through :class:`Evaluator`: TSSEM
stage 2 (and its multi-group form) minimise their fit functions over its parameter vector.

References
----------
Neudecker, H., & Satorra, A. (1991). Linear structural relations: Gradient and Hessian of the
fitting function. *Statistics & Probability Letters*, 11, 57-61.
"""

from __future__ import annotations

import numpy as np

from masem.effects import vechs_indices
from masem.errors import ModelError
from masem.model.ram import RAMModel


class Evaluator:
    """Implied correlations of a RAM model and their exact Jacobian, for a given parameter vector.

    ``computed=True`` (diag_constraints=False) removes the free variances of the observed
    variables from the parameters and solves them from diag(Sigma) = 1; the Jacobian then
    includes their implicit derivatives. ``computed=False`` keeps them free and reports the
    constraints h = diag(Sigma) - 1 with their Jacobian instead (Cheung, 2015, ch. 7).

    The derivatives are those of Sigma = F B S B' F' with B = (I - A)^-1:
    dSigma/dA_ij = F B e_i e_j' B S B' F' + its transpose, dSigma/dS_ij = F B (e_i e_j' + e_j e_i')
    B' F'
    (Neudecker & Satorra, 1991).
    """

    def __init__(self, ram: RAMModel, computed: bool):
        self.ram = ram
        variables = list(ram.variables)
        index = {v: i for i, v in enumerate(variables)}
        self.m, self.p = len(variables), len(ram.observed)
        self.A0 = np.zeros((self.m, self.m))
        self.S0 = np.zeros((self.m, self.m))
        names: list[str] = []
        starts: list[float] = []
        cell_rows: list[tuple] = []
        for c in ram.cells:
            i, j = index[c.row], index[c.col]
            if c.fixed is not None:
                target = self.A0 if c.matrix == "A" else self.S0
                target[i, j] = c.fixed
                if c.matrix == "S":
                    target[j, i] = c.fixed
                continue
            if c.name not in names:
                names.append(c.name)
                starts.append(ram._start(c))
            cell_rows.append((c, i, j, names.index(c.name)))
        # Which observed variables have their variance solved from / constrained by diag = 1.
        diag_vars = [
            (i, k) for (c, i, j, k) in cell_rows if c.matrix == "S" and i == j and i < self.p
        ]
        self.diag_obs = np.array([i for i, _ in diag_vars], dtype=int)
        self.computed = computed
        if computed:
            for i, k in diag_vars:
                sharing = [c.row for (c, _, _, kk) in cell_rows if kk == k]
                if len(sharing) > 1:
                    raise ModelError(
                        f"the label '{names[k]}' makes the error variances of {sharing} equal; "
                        "with "
                        "diag_constraints=False error variances are computed, not estimated, so "
                        "they "
                        "cannot be constrained: use diag_constraints=True or remove the label"
                    )
            drop = {k for _, k in diag_vars}
            self.computed_names = tuple(names[k] for _, k in diag_vars)
            keep = [k for k in range(len(names)) if k not in drop]
            renumber = {k: n for n, k in enumerate(keep)}
            cell_rows = [(c, i, j, renumber[k]) for (c, i, j, k) in cell_rows if k not in drop]
            names = [names[k] for k in keep]
            starts = [starts[k] for k in keep]
        else:
            self.computed_names = ()
        self.names = tuple(names)
        self.start = np.array(starts, dtype=float)
        self.cells = tuple(cell_rows)
        a = [(i, j, k) for (c, i, j, k) in cell_rows if c.matrix == "A"]
        s = [(i, j, k) for (c, i, j, k) in cell_rows if c.matrix == "S"]
        self.a_row, self.a_col, self.a_par = (
            (np.array(x, dtype=int) for x in zip(*a)) if a else _empty3()
        )
        self.s_row, self.s_col, self.s_par = (
            (np.array(x, dtype=int) for x in zip(*s)) if s else _empty3()
        )
        n = len(names)
        self.n = n
        self.a_map = np.zeros((len(a), n))
        self.a_map[np.arange(len(a)), self.a_par] = 1.0
        self.s_map = np.zeros((len(s), n))
        self.s_map[np.arange(len(s)), self.s_par] = 1.0
        self.s_half = np.where(self.s_row == self.s_col, 0.5, 1.0)
        rows, cols = vechs_indices(self.p)
        self.rows, self.cols = rows, cols
        self.n_constraints = 0 if computed else len(self.diag_obs)
        self.fixed_labels = ram._label_values()

    def matrices(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A, S (with computed variances filled in) and B = (I - A)^-1 at theta."""
        A = self.A0.copy()
        A[self.a_row, self.a_col] = theta[self.a_par]
        S = self.S0.copy()
        S[self.s_row, self.s_col] = theta[self.s_par]
        S[self.s_col, self.s_row] = theta[self.s_par]
        try:
            B = np.linalg.inv(np.eye(self.m) - A)
        except np.linalg.LinAlgError:
            raise ModelError(
                "I - A is singular at the current parameter values: the paths form a loop with "
                "unit gain; check the model's feedback loops"
            ) from None
        if self.computed and len(self.diag_obs):
            d = self.diag_obs
            U = B[: self.p]
            sigma0 = np.einsum("ij,ij->i", (U[d] @ S), U[d])
            M = U[d][:, d] ** 2
            try:
                S[d, d] = np.linalg.solve(M, 1.0 - sigma0)
            except np.linalg.LinAlgError:
                raise ModelError(
                    "the error variances cannot be solved from diag(Sigma) = 1 for this model; "
                    "use diag_constraints=True"
                ) from None
        return A, S, B

    def evaluate(self, theta: np.ndarray) -> dict:
        """Rho = vechs(Sigma), its Jacobian J, the constraints h (diag = 1) and their Jacobian.

        With computed variances, also their values ``s`` and derivatives ``ds``.
        """
        A, S, B = self.matrices(theta)
        p = self.p
        U = B[:p]
        V = U @ S @ B.T  # F B S B' : Sigma = V[:, :p]
        sigma = V[:, :p]
        r, c = self.rows, self.cols
        d = self.diag_obs
        if self.computed:
            J = self._jacobian(U, V, r, c)
            out = {"rho": sigma[r, c], "A": A, "S": S, "sigma": sigma}
            if len(d):
                Jd = self._jacobian(U, V, d, d)
                M = U[d][:, d] ** 2
                ds = -np.linalg.solve(M, Jd)
                Js = U[r][:, d] * U[c][:, d]
                J = J + Js @ ds
                out["s"] = S[d, d]
                out["ds"] = ds
            out["J"] = J
            out["h"] = np.zeros(0)
            out["Jh"] = np.zeros((0, self.n))
            return out
        J = self._jacobian(U, V, r, c)
        Jh = self._jacobian(U, V, d, d)
        return {
            "rho": sigma[r, c],
            "J": J,
            "h": sigma[d, d] - 1.0,
            "Jh": Jh,
            "A": A,
            "S": S,
            "sigma": sigma,
        }

    def _jacobian(self, U: np.ndarray, V: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        Ur, Uc, Vr, Vc = U[r], U[c], V[r], V[c]
        ai, aj = self.a_row, self.a_col
        JA = Ur[:, ai] * Vc[:, aj] + Vr[:, aj] * Uc[:, ai]
        si, sj = self.s_row, self.s_col
        JS = (Ur[:, si] * Uc[:, sj] + Ur[:, sj] * Uc[:, si]) * self.s_half
        return JA @ self.a_map + JS @ self.s_map

    def label_values(self, theta: np.ndarray, state: dict) -> dict[str, tuple[float, np.ndarray]]:
        """(value, gradient wrt theta) of every label: free, computed and fixed."""
        eye = np.eye(self.n)
        values = {name: (float(theta[k]), eye[k]) for k, name in enumerate(self.names)}
        for k, name in enumerate(self.computed_names):
            values[name] = (float(state["s"][k]), state["ds"][k])
        for name, value in self.fixed_labels.items():
            values[name] = (float(value), np.zeros(self.n))
        return values


def _empty3() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    e = np.zeros(0, dtype=int)
    return e, e.copy(), e.copy()
