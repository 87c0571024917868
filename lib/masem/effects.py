"""Correlation effect sizes: Fisher's z, vechs ordering, Olkin-Siotani covariances, attenuation.

Small, vectorised building blocks shared by the univariate meta-analysis, stage 1 of TSSEM and
the simulator.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from masem._util import frozen
from masem.errors import DataError


def _numbers(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as a float array, or a DataError naming the first value that is not a number."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        flat = np.asarray(values, dtype=object).ravel()
        for v in flat:
            try:
                float(v)
            except (TypeError, ValueError):
                raise DataError(f"{name} must contain numbers only; found {v!r}.") from None
        raise DataError(f"{name} must be numbers, got {values!r}.") from None


def r_to_z(r: ArrayLike) -> np.ndarray:
    """Fisher's (1921) variance-stabilising transformation, ``z = atanh(r)``.

    NaN (a missing correlation) stays NaN; a correlation of +-1 or beyond raises
    :class:`~masem.DataError`, because its z is infinite or undefined.

    Parameters
    ----------
    r : array_like
        Correlations, any shape.

    Returns
    -------
    ndarray
        Fisher's z, the shape of ``r``.

    Examples
    --------
    >>> r_to_z([0.0, 0.5]).round(4).tolist()
    [0.0, 0.5493]

    References
    ----------
    Fisher, R. A. (1921). On the "probable error" of a coefficient of correlation deduced from a
    small sample. *Metron*, 1, 3-32.
    """
    values = _numbers(r, "r")
    bad = np.abs(values) >= 1
    if np.any(bad):
        raise DataError(
            f"r = {values[bad].ravel()[0]!r} is outside [-1, 1] or on its edge; Fisher's z needs a "
            "correlation strictly between -1 and 1 (check for a typo such as a missing decimal "
            "point)."
        )
    return np.arctanh(values)


def z_to_r(z: ArrayLike) -> np.ndarray:
    """Back-transformation of Fisher's z to the correlation scale, ``r = tanh(z)``.

    Parameters
    ----------
    z : array_like
        Fisher's z values, any shape.

    Returns
    -------
    ndarray
        Correlations, the shape of ``z``.

    Examples
    --------
    >>> z_to_r(r_to_z([0.3, -0.2])).round(10).tolist()
    [0.3, -0.2]
    """
    return np.tanh(_numbers(z, "z"))


def vechs_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the strict lower triangle in column-major (``vechs``) order.

    The order is (2,1), (3,1), ..., (p,1), (3,2), ...: the order metaSEM uses for correlation
    vectors (Cheung, 2015, *Meta-Analysis: A Structural Equation Modeling Approach*, ch. 6).
    The arrays are cached per p and read-only; copy them before changing them.

    Examples
    --------
    >>> rows, cols = vechs_indices(3)
    >>> list(zip(rows.tolist(), cols.tolist()))
    [(1, 0), (2, 0), (2, 1)]
    """
    return _vechs_indices(int(p))


@lru_cache(maxsize=64)
def _vechs_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    # Cached because stage 1 asks for the same few p at every step of its optimiser; read-only so
    # that no caller can change the shared arrays.
    cols, rows = np.triu_indices(p, k=1)
    return frozen(rows, dtype=None), frozen(cols, dtype=None)


def vechs(matrix: ArrayLike) -> np.ndarray:
    """The strict lower triangle of a square matrix, column-major (see :func:`vechs_indices`).

    Parameters
    ----------
    matrix : array_like
        A square p x p matrix (a correlation matrix).

    Returns
    -------
    ndarray
        The p(p-1)/2 elements below the diagonal, column by column.

    Examples
    --------
    >>> vechs([[1.0, 0.2, 0.3], [0.2, 1.0, 0.4], [0.3, 0.4, 1.0]]).tolist()
    [0.2, 0.3, 0.4]
    """
    m = _square(matrix, "matrix")
    rows, cols = vechs_indices(m.shape[0])
    return m[rows, cols]


def _square(matrix: ArrayLike, name: str) -> np.ndarray:
    m = _numbers(matrix, name)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise DataError(f"{name} must be a square matrix, got shape {m.shape}.")
    return m


def vechs_labels(variables: list[str]) -> list[str]:
    """Labels ``row_col`` for the vechs elements, e.g. ``Spatial_Math``.

    Parameters
    ----------
    variables : list of str
        The names of the matrix's rows (and columns), in order.

    Returns
    -------
    list of str
        One label per element of :func:`vechs`, in the same order.

    Examples
    --------
    >>> vechs_labels(["A", "B", "C"])
    ['B_A', 'C_A', 'C_B']
    """
    rows, cols = vechs_indices(len(variables))
    return [f"{variables[i]}_{variables[j]}" for i, j in zip(rows, cols)]


def vechs_inverse(values: ArrayLike, p: int, diagonal: float = 1.0) -> np.ndarray:
    """Rebuild a symmetric p x p matrix from its vechs vector, with the given diagonal."""
    v = np.asarray(values, dtype=float)
    out = np.full((p, p), np.nan)
    np.fill_diagonal(out, diagonal)
    rows, cols = vechs_indices(p)
    out[rows, cols] = v
    out[cols, rows] = v
    return out


def olkin_siotani(rho: ArrayLike, n: float = 1.0) -> np.ndarray:
    """Asymptotic sampling covariance of the vechs correlations of a sample from a normal
    population.

    For correlations r_ij and r_kl of a sample of size n the covariance is (Olkin & Siotani, 1976)

        n cov(r_ij, r_kl) = 0.5 rho_ij rho_kl (rho_ik^2 + rho_il^2 + rho_jk^2 + rho_jl^2)
                            + rho_ik rho_jl + rho_il rho_jk
                            - rho_ij (rho_ik rho_il + rho_jk rho_jl)
                            - rho_kl (rho_ik rho_jk + rho_il rho_jl),

    which gives var(r_ij) = (1 - rho_ij^2)^2 / n on the diagonal.

    Parameters
    ----------
    rho : array_like, shape (p, p)
        Population (or pooled) correlation matrix at which the covariance is evaluated.
    n : float
        Sample size; the result is divided by ``n`` (metaSEM divides by n, not n - 1).

    Returns
    -------
    numpy.ndarray, shape (q, q)
        q = p (p - 1) / 2, rows and columns in vechs order.

    References
    ----------
    Olkin, I., & Siotani, M. (1976). Asymptotic distribution of functions of a correlation matrix.
    In S. Ikeda (Ed.), *Essays in Probability and Statistics* (pp. 235-251). Shinko Tsusho.

    Examples
    --------
    >>> import numpy as np
    >>> float(olkin_siotani(np.array([[1, .5], [.5, 1]]), n=100)[0, 0])
    0.005625
    """
    R = _square(rho, "rho")
    if np.any(np.abs(R) > 1):
        raise DataError(
            f"rho holds {R[np.abs(R) > 1][0]!r}, outside [-1, 1]; pass a correlation matrix."
        )
    if not np.allclose(R, R.T, equal_nan=True):
        raise DataError("rho is not symmetric; pass a correlation matrix.")
    try:
        n_value = float(n)
    except (TypeError, ValueError):
        n_value = np.nan
    if not np.isfinite(n_value) or n_value <= 0:
        raise DataError(f"n must be a positive number (the sample size), got {n!r}.")
    i, j = vechs_indices(R.shape[0])
    # Broadcast every (ij, kl) pair at once: rows index ij, columns index kl.
    I, J = i[:, None], j[:, None]  # noqa: E741 (the indices i, j, k, l of the formula)
    K, L = i[None, :], j[None, :]
    r_ij, r_kl = R[I, J], R[K, L]
    r_ik, r_il, r_jk, r_jl = R[I, K], R[I, L], R[J, K], R[J, L]
    acov = (
        0.5 * r_ij * r_kl * (r_ik**2 + r_il**2 + r_jk**2 + r_jl**2)
        + r_ik * r_jl
        + r_il * r_jk
        - r_ij * (r_ik * r_il + r_jk * r_jl)
        - r_kl * (r_ik * r_jk + r_il * r_jl)
    )
    return acov / n


def attenuate(rho: ArrayLike, reliability_x: ArrayLike, reliability_y: ArrayLike) -> np.ndarray:
    """Expected observed correlation under classical test theory: ``rho * sqrt(rxx * ryy)``.

    Parameters
    ----------
    rho : array_like
        True-score (construct-level) correlations.
    reliability_x, reliability_y : array_like
        The reliabilities of the two measures (broadcast against ``rho``).

    Returns
    -------
    ndarray
        The correlations the unreliable measures are expected to show.

    Examples
    --------
    >>> round(float(attenuate(0.5, 0.81, 0.64)), 10)
    0.36

    References
    ----------
    Spearman, C. (1904). The proof and measurement of association between two things.
    *American Journal of Psychology*, 15, 72-101.
    """
    return np.asarray(rho, dtype=float) * np.sqrt(
        np.asarray(reliability_x, dtype=float) * np.asarray(reliability_y, dtype=float)
    )


def disattenuate(r: ArrayLike, reliability_x: ArrayLike, reliability_y: ArrayLike) -> np.ndarray:
    """Correlation corrected for unreliability: ``r / sqrt(rxx * ryy)`` (Spearman, 1904).

    Parameters
    ----------
    r : array_like
        Observed correlations.
    reliability_x, reliability_y : array_like
        The reliabilities of the two measures (broadcast against ``r``).

    Returns
    -------
    ndarray
        The correlations corrected for attenuation (the inverse of :func:`attenuate`).

    Examples
    --------
    >>> round(float(disattenuate(0.36, 0.81, 0.64)), 10)
    0.5
    """
    return np.asarray(r, dtype=float) / np.sqrt(
        np.asarray(reliability_x, dtype=float) * np.asarray(reliability_y, dtype=float)
    )
