"""Effect-size building blocks: do the vechs order, Fisher's z and the Olkin-Siotani covariance
follow their published definitions?

The Olkin-Siotani covariance is checked against two closed forms that follow from the general
formula (the variance (1 - rho^2)^2 / n and the covariance of r_12 and r_13 for a 3-variable
matrix given by Olkin & Siotani, 1976), and against the empirical covariance of simulated
correlations.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from masem.effects import (
    attenuate,
    disattenuate,
    olkin_siotani,
    r_to_z,
    vechs,
    vechs_inverse,
    vechs_labels,
    z_to_r,
)

R3 = np.array([[1.0, 0.3, 0.4], [0.3, 1.0, 0.5], [0.4, 0.5, 1.0]])


def test_vechs_is_column_major_strict_lower_triangle() -> None:
    m = np.array([[1, 2, 3], [21, 1, 4], [31, 32, 1]], dtype=float)
    assert vechs(m).tolist() == [21, 31, 32]
    assert vechs_labels(["Math", "Spatial", "Verbal"]) == ["Spatial_Math", "Verbal_Math", "Verbal_Spatial"]
    np.testing.assert_array_equal(vechs_inverse(vechs(R3), 3), R3)


@given(st.floats(min_value=-0.999, max_value=0.999))
def test_fisher_z_round_trip(r: float) -> None:
    # 1e-12: tanh(atanh(r)) loses only a few ulps for |r| < 0.999.
    assert abs(float(z_to_r(r_to_z(r))) - r) < 1e-12


def test_olkin_siotani_closed_forms() -> None:
    acov = olkin_siotani(R3, n=50)
    r12, r13, r23 = 0.3, 0.4, 0.5
    # Variances: (1 - rho^2)^2 / n.
    np.testing.assert_allclose(np.diag(acov), (1 - vechs(R3) ** 2) ** 2 / 50, rtol=1e-14)
    # Covariance of two correlations sharing variable 1 (Olkin & Siotani, 1976; Steiger, 1980, eq. 3):
    # r23 (1 - r12^2 - r13^2) - r12 r13 (1 - r12^2 - r13^2 - r23^2) / 2.
    expected = r23 * (1 - r12**2 - r13**2) - 0.5 * r12 * r13 * (1 - r12**2 - r13**2 - r23**2)
    np.testing.assert_allclose(acov[0, 1] * 50, expected, rtol=1e-14)
    np.testing.assert_allclose(acov, acov.T)


def test_olkin_siotani_matches_simulation() -> None:
    rng = np.random.default_rng(2024)
    n, reps = 400, 4000
    chol = np.linalg.cholesky(R3)
    draws = np.empty((reps, 3))
    for b in range(reps):
        x = rng.standard_normal((n, 3)) @ chol.T
        draws[b] = vechs(np.corrcoef(x, rowvar=False))
    empirical = np.cov(draws, rowvar=False)
    # 0.1 relative: Monte Carlo error of a covariance estimated from 4000 replications is about
    # sqrt(2 / 4000) ~ 2-5 %, plus O(1/n) bias of the asymptotic formula.
    np.testing.assert_allclose(empirical, olkin_siotani(R3, n), rtol=0.1, atol=2e-5)


@settings(max_examples=50)
@given(
    st.floats(min_value=-0.95, max_value=0.95),
    st.floats(min_value=0.3, max_value=1.0),
    st.floats(min_value=0.3, max_value=1.0),
)
def test_attenuation_round_trip(rho: float, rxx: float, ryy: float) -> None:
    # 1e-12: two multiplications and a square root.
    assert abs(float(disattenuate(attenuate(rho, rxx, ryy), rxx, ryy)) - rho) < 1e-12
