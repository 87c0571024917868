"""Per-study correlation matrices as the estimators take them: validated, normalised, never the
caller's objects.

:func:`prepare_studies` reads a list (or dict, or (k, p, p) array) of correlation matrices and their
sample sizes, checks every entry (symmetry, unit diagonal, range, sample sizes) with a message that
names the study, the variables and the value, and returns a read-only :class:`StudyData`. Stage 1 of
TSSEM and the one-stage MASEM both start here. Conventions for missing values are metaSEM's
(Cheung, 2015): NaN is a correlation not reported, a NaN diagonal a variable the study did not
measure.

References
----------
Cheung, M. W.-L. (2015). *Meta-Analysis: A Structural Equation Modeling Approach*. Wiley.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from masem._linalg import patterns
from masem.effects import vechs_indices, vechs_labels
from masem.errors import DataError

__all__ = [
    "StudyData",
    "cell_counts",
    "prepare_studies",
    "smallest_eigenvalues",
    "symmetric_frame",
    "weighted_mean_matrix",
]

# Published matrices are rounded: a unit diagonal and symmetry are checked to this precision.
_ROUNDING_TOL = 1e-6


@dataclass(frozen=True)
class StudyData:
    """Validated per-study correlation matrices (never the caller's objects)."""

    matrices: np.ndarray  # (k, p, p), symmetric; diagonal 1 (measured) or NaN (not measured)
    n: np.ndarray  # (k,) sample sizes as floats
    variables: tuple[str, ...]
    labels: tuple[str | None, ...]  # study labels (keys of a mapping), None when not given
    measured: np.ndarray  # (k, p) bool: unit diagonal, the variables of the study's FEM block
    # (k, q) bool: a correlation the study reports between two measured variables: what REM's
    # likelihood and FEM use (metaSEM's cov2cor turns a value against a NaN diagonal into NA)
    observed: np.ndarray
    r: np.ndarray  # (k, q) vechs correlations as given, NaN where not reported
    # (k, q) bool: every value given, also against a variable with a NaN diagonal: what the
    # weighted mean matrix of the sampling covariances and the univariate-r approach average
    reported: np.ndarray

    @property
    def set_aside(self) -> list[tuple[int, list[str]]]:
        """Studies with values given against a variable they mark as not measured (NaN diagonal):
        (study index, those variables), in input order.
        """
        rows, cols = vechs_indices(self.p)
        out = []
        for i in np.flatnonzero((self.reported & ~self.observed).any(axis=1)):
            cells = np.flatnonzero(self.reported[i] & ~self.observed[i])
            involved = {int(v) for c in cells for v in (rows[c], cols[c])}
            names = [self.variables[v] for v in sorted(involved) if not self.measured[i, v]]
            out.append((int(i), names))
        return out

    @property
    def empty(self) -> np.ndarray:
        """Indices of the studies that report no correlation at all."""
        return np.flatnonzero(~self.reported.any(axis=1))

    @property
    def k(self) -> int:
        """Number of studies."""
        return self.matrices.shape[0]

    @property
    def p(self) -> int:
        """Number of variables."""
        return self.matrices.shape[1]

    @property
    def q(self) -> int:
        """Number of correlations, p (p - 1) / 2."""
        return self.r.shape[1]

    def study_name(self, i: int) -> str:
        """How messages name study i: its position in ``matrices`` and its label when there is
        one.
        """
        return _name(i, self.labels[i])

    def pair_name(self, cell: int) -> str:
        """The label ``row_col`` of vechs cell ``cell``."""
        return vechs_labels(list(self.variables))[cell]


def prepare_studies(matrices: Any, n: Any, variables: Sequence[str] | None) -> StudyData:
    """Validate and normalise the inputs of ``tssem1`` and ``uni_r`` (copies, never views of the
    input).
    """
    mats, labels = _as_matrix_list(matrices)
    k = len(mats)
    if k < 2:
        raise DataError(f"matrices: need at least 2 studies to pool, got {k}.")
    names = _resolve_variables(mats, variables)
    p = len(names)
    stack = np.empty((k, p, p))
    for i, m in enumerate(mats):
        stack[i] = _as_float_matrix(m, names, i, labels[i])
    study = _check_matrices(stack, names, labels)
    n_arr = _as_sample_sizes(n, k, labels)
    rows, cols = vechs_indices(p)
    r = study[:, rows, cols]
    reported = ~np.isnan(r)
    measured = ~np.isnan(np.diagonal(study, axis1=1, axis2=2))
    observed = reported & measured[:, rows] & measured[:, cols]
    # A correlation matrix of v variables from n <= v cases is singular: such an n is a typo.
    involved = (measured | ~np.isnan(study).all(axis=2)).sum(axis=1)
    small = np.flatnonzero(n_arr <= involved)
    if small.size:
        i = int(small[0])
        raise DataError(
            f"n[{i}] for {_name(i, labels[i])} is {n_arr[i]:g}, not above the {int(involved[i])} "
            "variables "
            "the study measures, so its correlation matrix could not be positive definite; check n."
        )
    never = np.flatnonzero(~observed.any(axis=0))
    if never.size:
        pairs = [vechs_labels(list(names))[c] for c in never]
        aside = (
            " (values given against a variable whose diagonal is NaN - not measured - do not count)"
            if (reported[:, never]).any()
            else ""
        )
        raise DataError(
            f"no study reports the correlation(s) {', '.join(pairs)}{aside}; they cannot be "
            "pooled. Drop one variable of each pair or add studies that report them."
        )
    return StudyData(
        matrices=study,
        n=n_arr,
        variables=tuple(names),
        labels=tuple(labels),
        measured=measured,
        observed=observed,
        r=r,
        reported=reported,
    )


def _name(i: int, label: str | None) -> str:
    """How messages name a study: by its label when it has one, and by its position."""
    return f"matrices[{i}]" if label is None else f"{label!r} (matrices[{i}])"


def _as_matrix_list(matrices: Any) -> tuple[list[Any], list[str | None]]:
    if isinstance(matrices, Mapping):
        return list(matrices.values()), [str(key) for key in matrices.keys()]
    if isinstance(matrices, pd.DataFrame) or isinstance(matrices, (str, bytes)):
        raise DataError(
            "matrices: expected a list of p x p correlation matrices, got a single "
            f"{type(matrices).__name__}; wrap the per-study matrices in a list."
        )
    if isinstance(matrices, np.ndarray):
        if matrices.ndim != 3:
            raise DataError(
                f"matrices: a numpy array must have shape (k, p, p), got shape {matrices.shape}."
            )
        mats = list(matrices)
    elif isinstance(matrices, Sequence):
        mats = list(matrices)
    else:
        raise DataError(
            "matrices: expected a list of p x p correlation matrices, got "
            f"{type(matrices).__name__}."
        )
    return mats, [None] * len(mats)


def _resolve_variables(mats: list[Any], variables: Sequence[str] | None) -> list[str]:
    frames = [(i, m) for i, m in enumerate(mats) if isinstance(m, pd.DataFrame)]
    if variables is not None:
        if isinstance(variables, str) or not isinstance(
            variables, Sequence | pd.Index | np.ndarray
        ):
            raise DataError(f"variables: expected a list of names, got {variables!r}.")
        names = [str(v) for v in variables]
    elif frames:
        names = [str(v) for v in frames[0][1].columns]
    else:
        try:
            shape = np.shape(mats[0])
        except ValueError:
            shape = ()
        if len(shape) != 2 or shape[0] != shape[1]:
            raise DataError(
                f"matrices[0]: expected a square p x p correlation matrix, got {mats[0]!r}."
            )
        names = [f"x{j + 1}" for j in range(shape[0])]
    dupes = sorted({v for v in names if names.count(v) > 1})
    if dupes:
        raise DataError(f"variables: names must be unique, {dupes} occur more than once.")
    if len(names) < 2:
        raise DataError(f"need at least 2 variables to pool correlations, got {len(names)}.")
    for i, frame in frames:
        for axis, labels in (("columns", frame.columns), ("index", frame.index)):
            found = [str(v) for v in labels]
            if sorted(found) != sorted(names):
                raise DataError(
                    f"matrices[{i}]: DataFrame {axis} {found} do not match the variables {names}; "
                    "every study must be labelled with the same variable names."
                )
    return names


def _as_float_matrix(m: Any, names: list[str], i: int, label: str | None) -> np.ndarray:
    p = len(names)
    if isinstance(m, pd.DataFrame):
        frame = m.copy()
        frame.index = [str(v) for v in frame.index]
        frame.columns = [str(v) for v in frame.columns]
        m = frame.loc[names, names]
        try:
            values = m.apply(pd.to_numeric).to_numpy(dtype=float, na_value=np.nan)
        except (ValueError, TypeError) as exc:
            raise DataError(f"{_name(i, label)}: non-numeric entries ({exc}).") from None
    else:
        try:
            values = np.array(m, dtype=float)
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"{_name(i, label)}: cannot be read as a numeric matrix ({exc})."
            ) from None
    if values.shape != (p, p):
        raise DataError(
            f"{_name(i, label)}: expected a {p} x {p} matrix (one row and column per variable), "
            f"got shape {values.shape}."
        )
    return values


def _check_matrices(stack: np.ndarray, names: list[str], labels: list[str | None]) -> np.ndarray:
    out = stack.copy()
    # Screen every study at once; the per-study check runs only on flagged studies, in input
    # order, to raise the error that names the first offending entry.
    for i in np.flatnonzero(_flag_invalid(out)):
        _check_study(out[i], names, _name(i, labels[i]))
    # Symmetrising removes rounding asymmetry below the tolerance.
    out = (out + out.transpose(0, 2, 1)) / 2
    # A variable without a single reported correlation carries no information: not measured
    # (metaSEM's tssem1FEM marks its diagonal NA). The converse is not forced: values given
    # against a variable with a NaN diagonal (as in metaSEM's Roorda11) stay in the matrix; the
    # estimators set them aside (StudyData.observed) but the weighted mean matrix averages them.
    p = out.shape[1]
    off_diagonal = ~np.eye(p, dtype=bool)
    silent = (np.isnan(out) | ~off_diagonal).all(axis=2)  # (k, p): no reported correlation
    out[silent[:, :, None] | silent[:, None, :]] = np.nan
    return out


def _flag_invalid(stack: np.ndarray) -> np.ndarray:
    """(k,) bool: the study breaks one of the rules that :func:`_check_study` words."""
    p = stack.shape[1]
    nan = np.isnan(stack)
    diag = np.diagonal(stack, axis1=1, axis2=2)
    with np.errstate(invalid="ignore"):  # inf - inf: such a study is flagged as infinite anyway
        asym = np.abs(np.where(nan, 0.0, stack - stack.transpose(0, 2, 1)))
        sym = (stack + stack.transpose(0, 2, 1)) / 2
        flags = (
            np.isinf(stack).any(axis=(1, 2))
            | (nan != nan.transpose(0, 2, 1)).any(axis=(1, 2))
            | (asym > _ROUNDING_TOL).any(axis=(1, 2))
            | (~np.isnan(diag) & (np.abs(diag - 1.0) > _ROUNDING_TOL)).any(axis=1)
            | (~np.eye(p, dtype=bool) & ~nan & (np.abs(sym) > 1.0)).any(axis=(1, 2))
        )
    return flags


def _check_study(m: np.ndarray, names: list[str], who: str) -> None:
    """Raise DataError naming the first entry of one study's matrix that breaks a rule."""
    p = m.shape[0]
    if np.isinf(m).any():
        a, b = np.argwhere(np.isinf(m))[0]
        raise DataError(
            f"{who}: entry ({names[a]}, {names[b]}) is {m[a, b]}; correlations must be finite."
        )
    nan = np.isnan(m)
    if (nan != nan.T).any():
        a, b = np.argwhere(nan != nan.T)[0]
        raise DataError(
            f"{who}: ({names[a]}, {names[b]}) is {m[a, b]} but ({names[b]}, {names[a]}) is "
            f"{m[b, a]}; "
            "give both triangles of the matrix (NaN in both for a correlation not reported)."
        )
    asym = np.abs(np.where(nan, 0.0, m - m.T))
    if asym.max() > _ROUNDING_TOL:
        a, b = np.unravel_index(np.argmax(asym), asym.shape)
        raise DataError(
            f"{who}: not symmetric, ({names[a]}, {names[b]}) = {m[a, b]} but "
            f"({names[b]}, {names[a]}) = {m[b, a]}; check the matrix for a typo."
        )
    diag = np.diagonal(m)
    bad = ~np.isnan(diag) & (np.abs(diag - 1.0) > _ROUNDING_TOL)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{who}: diagonal entry of {names[j]!r} is {diag[j]}; a correlation matrix has 1 on "
            "the "
            "diagonal (NaN when the study did not measure the variable)."
        )
    big = ~np.eye(p, dtype=bool) & ~nan & (np.abs((m + m.T) / 2) > 1.0)
    if big.any():
        a, b = np.argwhere(big)[0]
        value = (m[a, b] + m[b, a]) / 2
        raise DataError(
            f"{who}: correlation ({names[a]}, {names[b]}) = {value} is outside [-1, 1]."
        )


def _as_sample_sizes(n: Any, k: int, labels: list[str | None]) -> np.ndarray:
    if isinstance(n, Mapping | pd.Series) and all(lab is not None for lab in labels):
        keys = [str(key) for key in (n.keys() if isinstance(n, Mapping) else n.index)]
        if sorted(keys) == sorted(labels):
            lookup = dict(zip(keys, (n.values() if isinstance(n, Mapping) else n.to_numpy())))
            n = [lookup[lab] for lab in labels]
    if isinstance(n, Mapping):
        n = list(n.values())
    try:
        arr = np.array(n, dtype=float)
    except (ValueError, TypeError) as exc:
        raise DataError(f"n: cannot be read as numeric sample sizes ({exc}).") from None
    if arr.ndim != 1 or arr.size != k:
        raise DataError(f"n: expected {k} sample sizes (one per study), got shape {arr.shape}.")
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~np.isfinite(arr) | (arr < 2) | (arr != np.round(arr)))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"n[{i}] for {_name(i, labels[i])} is {arr[i]}; sample sizes must be whole numbers >= "
            "2."
        )
    return arr


def smallest_eigenvalues(data: StudyData) -> np.ndarray:
    """(k,) smallest eigenvalue of each study's block of measured variables.

    NaN where the block has fewer than 2 variables or a missing correlation. Studies that
    measured the same variables are decomposed in one batched call.
    """
    out = np.full(data.k, np.nan)
    for variables, studies in patterns(data.measured):
        if variables.size < 2:
            continue
        blocks = data.matrices[np.ix_(studies, variables, variables)]
        complete = ~np.isnan(blocks).any(axis=(1, 2))
        if complete.any():
            out[studies[complete]] = np.linalg.eigvalsh(blocks[complete])[:, 0]
    return out


def weighted_mean_matrix(data: StudyData) -> np.ndarray:
    """Sample-size-weighted mean correlation matrix, each cell over the studies that give a value.

    The matrix at which metaSEM's ``acov = "weighted"`` evaluates the Olkin-Siotani sampling
    covariances (Cheung, 2015, *Meta-Analysis: A Structural Equation Modeling Approach*, Wiley);
    like metaSEM's ``asyCov`` it averages every value given, also one against a variable with a
    NaN diagonal, which the likelihood sets aside.
    """
    w = np.where(data.reported, data.n[:, None], 0.0)
    mean = (w * np.where(data.reported, data.r, 0.0)).sum(axis=0) / w.sum(axis=0)
    out = np.eye(data.p)
    rows, cols = vechs_indices(data.p)
    out[rows, cols] = mean
    out[cols, rows] = mean
    return out


def cell_counts(data: StudyData, used: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of the p x p matrix: number of studies (k) and their total N; diagonal: studies
    measuring the variable.

    ``used=True`` counts the correlations the likelihood uses (between measured variables),
    ``used=False`` every value given (what the univariate-r approach averages).
    """
    rows, cols = vechs_indices(data.p)
    cells = data.observed if used else data.reported
    present = np.zeros((data.k, data.p, data.p), dtype=bool)
    present[:, rows, cols] = present[:, cols, rows] = cells
    present[:, np.arange(data.p), np.arange(data.p)] = data.measured
    k = present.sum(axis=0).astype(float)
    big_n = (present * data.n[:, None, None]).sum(axis=0)
    return k, big_n


def symmetric_frame(values: np.ndarray, variables: Sequence[str]) -> pd.DataFrame:
    """A p x p array as a DataFrame labelled by ``variables`` on both axes."""
    return pd.DataFrame(values, index=list(variables), columns=list(variables))
