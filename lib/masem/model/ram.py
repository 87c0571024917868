"""lavaan syntax -> RAM matrices (A, S, F): one parse gives one :class:`RAMModel`.

A structural model is written in lavaan syntax (Rosseel, 2012) and translated to McArdle and
McDonald's (1984) reticular action model (RAM): A holds the asymmetric paths (regressions and
loadings), S the symmetric paths (variances and covariances), F filters the observed variables,
and the model-implied matrix of the observed variables is

    Sigma = F (I - A)^-1 S (I - A)^-T F'.

The conventions are those of metaSEM's ``lavaan2RAM`` (Cheung, 2015): latent variances fixed at
1 (``std.lv = TRUE``), every variable given a (residual) variance (``auto.var = TRUE``), no
automatic covariances, start values 0.1 for paths, 0.5 for variances and 0 for covariances, and
unlabelled parameters named ``XonY`` (X regressed on, or loading on, Y) and ``XwithY``.

The statements are read by :mod:`masem.model.syntax`; a parsed model can be given another order
of its observed variables (:meth:`RAMModel.with_observed`) without reading the text again. The
implied correlations and their Jacobian are computed by :class:`masem.model.implied.Evaluator`.

References
----------
McArdle, J. J., & McDonald, R. P. (1984). Some algebraic properties of the reticular action
model for moment structures. *British Journal of Mathematical and Statistical Psychology*, 37,
234-251.
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of
Statistical Software*, 48(2), 1-36.
Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from masem.errors import ModelError
from masem.model.definitions import Definition
from masem.model.syntax import _add_auto_variances, _Cell, _check_labels, _parse

__all__ = ["RAMModel", "lavaan_to_ram", "model_variables"]

# metaSEM's lavaan2RAM defaults (A.start, S.start for variances; covariances start at 0).
PATH_START = 0.1
VARIANCE_START = 0.5
COVARIANCE_START = 0.0


@dataclass(frozen=True)
class RAMModel:
    """A lavaan model translated to RAM form (see :func:`lavaan_to_ram`).

    Attributes
    ----------
    syntax : str
        The lavaan model as given.
    observed, latent : tuple of str
        Observed variables (in the requested order) and latent variables (order of appearance).
    cells : tuple
        Every specified element of A and S, in syntax order, then the automatic variances.
    definitions : tuple of Definition
        The ``:=`` lines, in order.
    """

    syntax: str
    observed: tuple[str, ...]
    latent: tuple[str, ...]
    cells: tuple[_Cell, ...] = field(repr=False)
    definitions: tuple[Definition, ...] = field(repr=False)
    # What the parse gave, kept for with_observed(): the cells as written (no automatic
    # variances yet) and the observed variables in their order of appearance.
    _specified: tuple[_Cell, ...] = field(repr=False, compare=False, default=())
    _appearance: tuple[str, ...] = field(repr=False, compare=False, default=())

    @property
    def variables(self) -> tuple[str, ...]:
        """All variables: observed first, then latent (the row/column order of A and S)."""
        return self.observed + self.latent

    def with_observed(self, observed: Iterable[str]) -> RAMModel:
        """The same model with its observed variables in the order ``observed`` (no second parse).

        Parameters
        ----------
        observed : iterable of str
            Each observed variable of the model once, e.g. in the order of the stage-1 data.

        Returns
        -------
        RAMModel
            Equal to ``lavaan_to_ram(self.syntax, observed)``.

        Examples
        --------
        >>> lavaan_to_ram("y ~ x").with_observed(["x", "y"]).observed
        ('x', 'y')
        """
        return _assemble(
            self.syntax,
            list(self._specified),
            self.definitions,
            list(self.latent),
            list(self._appearance),
            observed,
        )

    @property
    def A(self) -> pd.DataFrame:
        """Asymmetric paths in metaSEM's string notation: ``"start*label"`` if free, the value if
        fixed.
        """
        return self._notation("A")

    @property
    def S(self) -> pd.DataFrame:
        """Symmetric paths in metaSEM's string notation."""
        return self._notation("S")

    @property
    def F(self) -> pd.DataFrame:
        """Filter matrix: observed variables (rows) by all variables (columns)."""
        v = self.variables
        return pd.DataFrame(
            np.eye(len(self.observed), len(v)), index=list(self.observed), columns=list(v)
        )

    @property
    def parameters(self) -> pd.DataFrame:
        """One row per specified element: lval, op, rval, label, free, value/start, matrix."""
        rows = []
        for c in self.cells:
            fixed = c.fixed
            rows.append(
                {
                    "lval": c.row,
                    "op": c.op,
                    "rval": c.col,
                    "label": c.name if (c.label is not None or c.fixed is None) else "",
                    "free": fixed is None,
                    "value": fixed if fixed is not None else self._start(c),
                    "matrix": c.matrix,
                }
            )
        return pd.DataFrame(rows)

    def _start(self, cell: _Cell) -> float:
        return self._starts[cell.name]

    @functools.cached_property
    def _starts(self) -> dict[str, float]:
        """Start value per parameter name: the first start() given for it, else metaSEM's
        default.
        """
        defaults = {"path": PATH_START, "variance": VARIANCE_START, "covariance": COVARIANCE_START}
        out: dict[str, float] = {}
        for c in self.cells:
            if c.start is not None:
                out.setdefault(c.name, c.start)
        for c in self.cells:
            out.setdefault(c.name, defaults[c.kind])
        return out

    def _label_values(self) -> dict[str, float]:
        """Labels whose value is fixed by the syntax (usable in ':=' definitions)."""
        return {c.name: c.fixed for c in self.cells if c.fixed is not None and c.label is not None}

    def _notation(self, matrix: str) -> pd.DataFrame:
        v = list(self.variables)
        out = pd.DataFrame("0", index=v, columns=v)
        for c in self.cells:
            if c.matrix != matrix:
                continue
            text = f"{c.fixed:g}" if c.fixed is not None else f"{self._start(c):g}*{c.name}"
            out.loc[c.row, c.col] = text
            if matrix == "S":
                out.loc[c.col, c.row] = text
        return out


def lavaan_to_ram(model: str, observed: list[str] | None = None) -> RAMModel:
    """Translate lavaan model syntax into RAM matrices, metaSEM style.

    Parameters
    ----------
    model : str
        lavaan syntax: ``=~`` (loadings), ``~`` (regressions), ``~~`` (variances, covariances),
        labels ``a*x``, fixed values ``1*x``, free ``NA*x``, start values ``start(0.2)*x``,
        equality by shared labels, ``name := expression`` definitions, ``#`` comments, ``;``
        between statements.
    observed : list of str, optional
        The order of the observed variables (e.g. the stage-1 variables that the model uses).
        Defaults to their order of appearance. Must contain exactly the model's observed
        variables.

    Returns
    -------
    RAMModel
        With ``A``, ``S``, ``F`` (DataFrames in metaSEM's string notation) and ``parameters``.

    References
    ----------
    McArdle, J. J., & McDonald, R. P. (1984). *British Journal of Mathematical and Statistical
    Psychology*, 37, 234-251. Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation
    modeling approach*. Wiley (``lavaan2RAM``).

    Examples
    --------
    >>> ram = lavaan_to_ram("y ~ b*x\\nx ~~ 1*x")
    >>> ram.A.loc["y", "x"]
    '0.1*b'
    """
    if not isinstance(model, str):
        raise ModelError(f"model must be lavaan syntax in a str, got {type(model).__name__}")
    cells, definitions, latent, seen = _parse(model)
    appearance = [v for v in seen if v not in latent]
    return _assemble(model, cells, tuple(definitions), latent, appearance, observed)


def _assemble(
    syntax: str,
    specified: list[_Cell],
    definitions: tuple[Definition, ...],
    latent: list[str],
    appearance: list[str],
    observed: Iterable[str] | None,
) -> RAMModel:
    """The RAM model of parsed cells with the observed variables in the order ``observed``."""
    if observed is None:
        order = appearance
    else:
        order = [str(v) for v in observed]
        missing = [v for v in appearance if v not in order]
        extra = [v for v in order if v not in appearance]
        if missing or extra or len(set(order)) != len(order):
            raise ModelError(
                f"observed must list each observed variable of the model once; model variables: "
                f"{appearance}, given: {order}"
            )
    cells = _check_labels(
        _add_auto_variances(specified, order, latent), list(definitions), order + latent
    )
    return RAMModel(
        syntax=syntax,
        observed=tuple(order),
        latent=tuple(latent),
        cells=tuple(cells),
        definitions=tuple(definitions),
        _specified=tuple(specified),
        _appearance=tuple(appearance),
    )


def model_variables(model: str, order: Iterable[str] | None = None) -> list[str]:
    """The observed variables of a lavaan model: the constructs that stage 1 must pool for it.

    Latent variables (factors defined with ``=~``) are not observed and are left out.

    Parameters
    ----------
    model : str
        lavaan syntax (see :func:`lavaan_to_ram`).
    order : iterable of str, optional
        Names that set the order of the result, typically the codebook of a study database
        (``database.constructs["code"]``); every observed variable of the model must be among
        them. Default: the order in which the variables first appear in the model.

    Returns
    -------
    list of str
        The observed variables, in the order of ``order`` (or of appearance).

    Raises
    ------
    ModelError
        ``model`` is not valid lavaan syntax (the message names the line), ``order`` is not a
        collection of names, or the model uses a variable that ``order`` lacks (named in the
        message).

    Examples
    --------
    >>> model_variables("PE ~ HPWP\\nJS ~ PE")
    ['PE', 'HPWP', 'JS']
    >>> model_variables("PE ~ HPWP\\nJS ~ PE", order=["HPWP", "PE", "TP", "JS"])
    ['HPWP', 'PE', 'JS']
    """
    observed = lavaan_to_ram(model).observed
    if order is None:
        return list(observed)
    if isinstance(order, str) or not isinstance(order, Iterable):
        raise ModelError(f"order must be a list of variable names (e.g. a codebook), got {order!r}")
    names = [str(v) for v in order]
    missing = [v for v in observed if v not in names]
    if missing:
        raise ModelError(
            f"the model uses {missing}, which {'is' if len(missing) == 1 else 'are'} not in order "
            f"({names}); add {'it' if len(missing) == 1 else 'them'} there (for a study database: "
            "to "
            "constructs.csv) or rename the model's variables"
        )
    return [v for v in dict.fromkeys(names) if v in observed]
