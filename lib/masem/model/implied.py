"""Implied correlations of a RAM model, its constraints and definitions, with exact Jacobians.

The estimators evaluate a :class:`~masem.model.ram.RAMModel` through :class:`Evaluator`: TSSEM
stage 2 (and its multi-group form) minimise their fit functions over its parameter vector.

A correlation structure needs a unit variance for every observed variable. Like metaSEM's ``wls``
(Cheung, 2015, ch. 7; metaSEM 1.5.5 source of ``wls``), there are two ways to get it:

- ``computed=True`` (``diag_constraints=False``): the (residual) variance of every *dependent*
  variable - observed or latent, any variable with a free incoming path - is computed so that
  its total variance is 1, whatever the syntax fixed it at; so is the free variance of any other
  observed variable (an exogenous one: metaSEM would keep it as a parameter that the
  off-diagonal correlations cannot identify). These variances are not parameters.
- ``computed=False`` (``diag_constraints=True``): every variable whose variance is free in the
  model (latent ones included) keeps it as a parameter, and diag((I - A)^-1 S (I - A)^-T) = 1 is
  imposed on them as nonlinear constraints.

The derivatives are those of Sigma = B S B' with B = (I - A)^-1:
dSigma/dA_ij = B e_i e_j' B S B' + its transpose, dSigma/dS_ij = B (e_i e_j' + e_j e_i') B'
(Neudecker & Satorra, 1991); ``:=`` definitions and ``==`` / ``<`` / ``>`` constraints are
differentiated exactly by :func:`masem.model.definitions.evaluate`.

References
----------
Neudecker, H., & Satorra, A. (1991). Linear structural relations: Gradient and Hessian of the
fitting function. *Statistics & Probability Letters*, 11, 57-61.
Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.
"""

from __future__ import annotations

import numpy as np

from masem._linalg import ram_inverse
from masem.effects import vechs_indices
from masem.errors import ModelError
from masem.model.definitions import evaluate as evaluate_expression
from masem.model.ram import RAMModel


class Evaluator:
    """Implied correlations, constraints and definitions of a RAM model at a parameter vector.

    Parameters
    ----------
    ram : RAMModel
        The parsed model.
    computed : bool
        True: variances computed from diag(Sigma) = 1 (see the module docstring); False: free
        variances constrained to diag(Sigma) = 1.

    Attributes
    ----------
    names : tuple of str
        The free parameters, in the order of the cells.
    start : numpy.ndarray
        Their start values (metaSEM's defaults or ``start()``).
    computed_names : tuple of str
        Names of the computed variances that are cells of the model.
    overridden : tuple of str
        Variances the syntax fixed (or std.lv fixed) that ``computed=True`` computes instead.
    n_constraints : int
        Number of diag(Sigma) = 1 constraints (``computed=False``).
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
                if c.matrix == "A":
                    self.A0[i, j] = c.fixed
                else:
                    self.S0[i, j] = self.S0[j, i] = c.fixed
                continue
            if c.name not in names:
                names.append(c.name)
                starts.append(ram._start(c))
            cell_rows.append((c, i, j, names.index(c.name)))
        self.computed = computed
        free_diag = {i: k for (c, i, j, k) in cell_rows if c.matrix == "S" and i == j}
        if computed:
            dependent = {index[c.row] for c in ram.cells if c.matrix == "A" and c.fixed is None}
            targets = sorted(dependent | {i for i in free_diag if i < self.p})
            names, starts, cell_rows = self._drop_computed(
                targets, free_diag, names, starts, cell_rows
            )
            self.diag = np.array(targets, dtype=int)
            self.n_constraints = 0
        else:
            self.computed_names, self.overridden, self._computed_positions = (), (), ()
            self.diag = np.array(sorted(free_diag), dtype=int)
            self.n_constraints = len(self.diag)
        self.names = tuple(names)
        self.start = np.array(starts, dtype=float)
        self.cells = tuple(cell_rows)
        self._index_cells(cell_rows)
        self.rows, self.cols = vechs_indices(self.p)
        self.fixed_labels = {
            name: value
            for name, value in ram._label_values().items()
            if name not in self.computed_names
        }
        # Constraints as g >= 0 or g == 0: lhs - rhs, or rhs - lhs for '<'.
        self.constraint_ops = tuple("==" if c.op == "==" else ">=" for c in ram.constraints)
        self._signs = np.array([-1.0 if c.op == "<" else 1.0 for c in ram.constraints])

    def _drop_computed(self, targets, free_diag, names, starts, cell_rows):
        """Remove the computed variances from the parameters (and from the fixed values)."""
        variables = self.ram.variables
        by_index = {k: [c for (c, _, _, kk) in cell_rows if kk == k] for k in free_diag.values()}
        computed_names, overridden, positions = [], [], []
        for position, i in enumerate(targets):
            if i in free_diag:
                k = free_diag[i]
                sharing = by_index[k]
                if len(sharing) > 1:
                    raise ModelError(
                        f"the label '{names[k]}' joins the (residual) variance of {variables[i]} "
                        f"(line {sharing[0].line}) with "
                        f"{', '.join(c.element for c in sharing[1:])}; "
                        "with diag_constraints=False that variance is computed from "
                        "diag(Sigma) = 1, not estimated, so it cannot be constrained: use "
                        "diag_constraints=True or remove the label"
                    )
                computed_names.append(names[k])
                positions.append(position)
            else:
                cell = next(
                    (
                        c
                        for c in self.ram.cells
                        if c.matrix == "S" and c.row == c.col == variables[i]
                    ),
                    None,
                )
                if cell is not None and cell.line and cell.fixed is not None:
                    overridden.append(f"{cell.element} (line {cell.line}, fixed at {cell.fixed:g})")
                self.S0[i, i] = 0.0
        drop = {free_diag[i] for i in targets if i in free_diag}
        keep = [k for k in range(len(names)) if k not in drop]
        renumber = {k: n for n, k in enumerate(keep)}
        cell_rows = [(c, i, j, renumber[k]) for (c, i, j, k) in cell_rows if k not in drop]
        self.computed_names = tuple(computed_names)
        self._computed_positions = tuple(positions)
        self.overridden = tuple(overridden)
        return [names[k] for k in keep], [starts[k] for k in keep], cell_rows

    def _index_cells(self, cell_rows) -> None:
        a = [(i, j, k) for (c, i, j, k) in cell_rows if c.matrix == "A"]
        s = [(i, j, k) for (c, i, j, k) in cell_rows if c.matrix == "S"]
        self.a_row, self.a_col, self.a_par = (
            (np.array(x, dtype=int) for x in zip(*a)) if a else _empty3()
        )
        self.s_row, self.s_col, self.s_par = (
            (np.array(x, dtype=int) for x in zip(*s)) if s else _empty3()
        )
        n = len(self.names)
        self.n = n
        self.a_map = np.zeros((len(a), n))
        self.a_map[np.arange(len(a)), self.a_par] = 1.0
        self.s_map = np.zeros((len(s), n))
        self.s_map[np.arange(len(s)), self.s_par] = 1.0
        self.s_half = np.where(self.s_row == self.s_col, 0.5, 1.0)

    def matrices(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A, S (with computed variances filled in) and B = (I - A)^-1 at theta."""
        A = self.A0.copy()
        A[self.a_row, self.a_col] = theta[self.a_par]
        S = self.S0.copy()
        S[self.s_row, self.s_col] = theta[self.s_par]
        S[self.s_col, self.s_row] = theta[self.s_par]
        B = ram_inverse(A)
        if self.computed and len(self.diag):
            d = self.diag
            sigma0 = np.einsum("ij,ij->i", (B[d] @ S), B[d])
            M = B[d][:, d] ** 2
            try:
                S[d, d] = np.linalg.solve(M, 1.0 - sigma0)
            except np.linalg.LinAlgError:
                raise ModelError(
                    "the error variances cannot be solved from diag(Sigma) = 1 for this model; "
                    "use diag_constraints=True"
                ) from None
        return A, S, B

    def evaluate(self, theta: np.ndarray) -> dict:
        """Rho = vechs(Sigma), its Jacobian J, the constraints h (diag = 1) and their Jacobian Jh,
        the model's constraints g (``g == 0`` or ``g >= 0``, see ``constraint_ops``) and Jg.

        With computed variances, also their values ``s`` and derivatives ``ds``.
        """
        A, S, B = self.matrices(theta)
        V = B @ S @ B.T  # the covariance matrix of all variables
        sigma = V[: self.p, : self.p]
        r, c, d = self.rows, self.cols, self.diag
        J = self._jacobian(B, V, r, c)
        out = {"rho": sigma[r, c], "A": A, "S": S, "sigma": sigma, "total": V}
        if self.computed:
            if len(d):
                Jd = self._jacobian(B, V, d, d)
                M = B[d][:, d] ** 2
                ds = -np.linalg.solve(M, Jd)
                J = J + (B[r][:, d] * B[c][:, d]) @ ds
                out["s"] = S[d, d]
                out["ds"] = ds
            out.update(J=J, h=np.zeros(0), Jh=np.zeros((0, self.n)))
        else:
            out.update(J=J, h=V[d, d] - 1.0, Jh=self._jacobian(B, V, d, d))
        g, Jg = self.constraints(theta, out)
        out.update(g=g * self._signs, Jg=Jg * self._signs[:, None])
        return out

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
        for name, position in zip(self.computed_names, self._computed_positions):
            values[name] = (float(state["s"][position]), state["ds"][position])
        for name, value in self.fixed_labels.items():
            values[name] = (float(value), np.zeros(self.n))
        return values

    def defined(self, theta: np.ndarray, state: dict) -> dict[str, tuple[float, np.ndarray]]:
        """(value, gradient) of every ``:=`` definition, in the order written (a definition may
        use another, earlier or later one).
        """
        values = self.label_values(theta, state)
        pending = list(self.ram.definitions)
        while pending:
            ready = [d for d in pending if all(n in values for n in d.names)]
            for d in ready:
                values[d.name] = evaluate_expression(d, values, self.n)
            pending = [d for d in pending if d not in ready]
        return {d.name: values[d.name] for d in self.ram.definitions}

    def constraints(self, theta: np.ndarray, state: dict) -> tuple[np.ndarray, np.ndarray]:
        """Values lhs - rhs of the ``==`` / ``<`` / ``>`` constraints, in order, and their
        Jacobian.
        """
        if not self.ram.constraints:
            return np.zeros(0), np.zeros((0, self.n))
        values = self.label_values(theta, state)
        values.update(self.defined(theta, state))
        g, jac = [], []
        for con in self.ram.constraints:
            a, ga = evaluate_expression(con.lhs_tree, values, self.n)
            b, gb = evaluate_expression(con.rhs_tree, values, self.n)
            g.append(a - b)
            jac.append(ga - gb)
        return np.array(g, dtype=float), np.array(jac, dtype=float).reshape(len(g), self.n)


def _empty3() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    e = np.zeros(0, dtype=int)
    return e, e.copy(), e.copy()
