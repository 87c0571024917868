"""Seeded generator of a simulated study database from a documented population model.

The population is a recursive structural model of standardised (true-score) variables
(``data/population/<level>_model.csv``) whose implied correlation matrix reproduces the published
anchors exactly; study characteristics change single paths (``moderators.csv``: a shift per
category, or a slope per unit of a continuous moderator such as the individualism score). Each
simulated primary study draws its own true matrix (population + random effects on Fisher's z),
then item-level data: every construct is measured by a scale of several items with study-specific
loadings, so the scale scores' correlations are attenuated by unreliability exactly as in real
studies, and Cronbach's alpha is computed from the items (or both statistics are drawn from the
Wishart distribution of the items' sample covariance, for fast simulation studies). Publication
selection on one relation creates a documented small-study effect. See
``data/population/README.md`` and ``data/README.md``.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from masem._util import choose, frozen
from masem.data.database import StudyDatabase
from masem.errors import DataError, ModelError

__all__ = [
    "Population",
    "StudyDesign",
    "default_design",
    "read_population",
    "simulate_database",
    "write_population",
]

LEVELS = ("individual", "team")
CODEBOOK_COLUMNS = ("code", "name", "level", "role", "description", "service_practices")
# Study columns a moderators.csv row may name: text columns take categorical rows, numeric
# columns continuous ones.
_STUDY_MODERATORS = {
    "industry": "categorical",
    "culture": "categorical",
    "country": "categorical",
    "setting": "categorical",
    "empowerment_measure": "categorical",
    "empowerment_scores": "categorical",
    "year": "continuous",
    "individualism": "continuous",
    "customer_contact": "continuous",
}
# A study's true matrix and its rounded observed matrix must be comfortably positive definite so
# that the loader (and every estimator) accepts it; these floors are far below typical values.
_MIN_EIG_TRUE = 0.01
_MIN_EIG_OBSERVED = 1e-3
_MAX_DRAWS = 1000
_MAX_SWEEPS = 1000
_GENERATORS = ("items", "statistics")
# Moderated matrices kept per Population (see Population.implied).
_CACHE_SIZE = 4096


# ----------------------------------------------------------------------------------------------
# Population model
# ----------------------------------------------------------------------------------------------
def _implied(
    paths: np.ndarray,
    corr: np.ndarray,
    endogenous: np.ndarray,
    anchors: np.ndarray | None,
    names: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Correlation matrix implied by a recursive standardised path model.

    The reticular action model (McArdle & McDonald, 1984): Sigma = B S B', B = (I - A)^-1, with
    A the path coefficients and S the (residual) covariances. Residual variances psi are set so
    that every variable has unit variance; ``corr`` holds correlations between exogenous
    variables and between residuals (covariance = corr * sqrt(psi_u psi_v)). Rows of ``anchors``
    (y, x, value) mark paths y <- x whose coefficient is solved so that corr(y, x) = value.
    Both fixed points are updated together until nothing moves (a Gauss-Seidel-like iteration;
    a recursive model converges in a few sweeps per level of depth).

    Returns
    -------
    (Sigma, A) : the implied correlation matrix and the path matrix with solved coefficients.
    """
    p = len(paths)
    A = paths.copy()
    psi = np.ones(p)
    eye = np.eye(p)
    anchors = np.empty((0, 3)) if anchors is None else anchors.reshape(-1, 3)
    ay, ax, aval = anchors[:, 0].astype(int), anchors[:, 1].astype(int), anchors[:, 2]
    for _ in range(_MAX_SWEEPS):
        S = corr * np.sqrt(np.outer(psi, psi))
        np.fill_diagonal(S, psi)
        B = np.linalg.solve(eye - A, eye)
        sigma = B @ S @ B.T
        step_psi = np.where(endogenous, 1.0 - np.diag(sigma), 0.0)
        step_path = (aval - sigma[ay, ax]) / sigma[ax, ax]
        # Before the upstream variances settle a step can overshoot below zero; a tiny floor
        # keeps the square roots real, and a model that truly over-explains never converges.
        psi = np.maximum(psi + step_psi, 1e-12)
        A[ay, ax] += step_path
        if max(np.abs(step_psi).max(), np.abs(step_path).max(initial=0.0)) < 1e-14:
            break
    else:
        over = np.flatnonzero(np.abs(np.diag(sigma) - 1) > 1e-9)
        detail = (
            f" ({names[over[0]]} keeps a variance of {sigma[over[0], over[0]]:.3f})"
            if len(over)
            else ""
        )
        raise ModelError(
            f"the population model has no standardised solution{detail}: the paths into a variable "
            "explain more than all of its variance, or the anchors cannot be met; make the paths "
            "smaller."
        )
    sigma = (sigma + sigma.T) / 2
    np.fill_diagonal(sigma, 1.0)
    sigma[ay, ax] = sigma[ax, ay] = aval
    return sigma, A


@dataclass(frozen=True, eq=False, repr=False)
class Population:
    """The population model of one level (see :func:`read_population`).

    The tables are handed out as copies, so a caller cannot change the model by accident.

    Attributes
    ----------
    level : str
        ``"individual"`` or ``"team"``.
    constructs : pandas.DataFrame
        The codebook rows of this level, with the simulation design columns ``items_min``,
        ``items_max`` (scale length), ``weight`` and ``service_weight`` (relative chance that a
        study in another / a service industry measures the construct).
    rho : pandas.DataFrame
        The model-implied true-score correlation matrix, published anchors exact (every
        continuous moderator at its ``center``, no categorical shift).
    model : pandas.DataFrame
        The structural model as read (``lhs``, ``op``, ``rhs``, ``value``, ``note``).
    moderators : pandas.DataFrame
        How study characteristics change single paths (``moderator``, ``category``, ``center``,
        ``per``, ``lhs``, ``op``, ``rhs``, ``shift``, ``note``): a categorical row (``category``
        given) adds ``shift`` to the path in studies of that category; a continuous row (no
        category) adds ``shift`` per ``per`` units of the moderator above ``center``.
    """

    level: str
    _constructs: pd.DataFrame
    _rho: pd.DataFrame
    _model: pd.DataFrame
    _moderators: pd.DataFrame
    _paths: np.ndarray
    _corr: np.ndarray
    _endogenous: np.ndarray
    _cache: dict = field(default_factory=dict)
    _index: dict = field(default_factory=dict)

    @property
    def constructs(self) -> pd.DataFrame:
        """The codebook of the population's constructs."""
        return self._constructs.copy()

    @property
    def rho(self) -> pd.DataFrame:
        """The population correlation matrix (no moderator shifts)."""
        return self._rho.copy()

    @property
    def model(self) -> pd.DataFrame:
        """The structural paths that imply ``rho``."""
        return self._model.copy()

    @property
    def moderators(self) -> pd.DataFrame:
        """The moderator rows of single paths (moderators.csv); ``center`` and ``per`` are NaN
        for categorical rows.
        """
        return self._moderators.copy()

    @property
    def variables(self) -> list[str]:
        """Construct codes in codebook order."""
        return list(self._constructs["code"])

    def implied(self, moderators: Mapping[str, str | float] | None = None) -> pd.DataFrame:
        """True-score correlation matrix for studies with the given characteristics.

        Parameters
        ----------
        moderators : mapping, optional
            Study characteristics, e.g. ``{"industry": "service"}`` for a categorical moderator
            or ``{"individualism": 91, "customer_contact": 0.8}`` for continuous ones. Each
            matching row of ``moderators.csv`` changes its path: a categorical row adds its
            ``shift``, a continuous row ``shift * (value - center) / per``; residual variances
            are then reset so that every variable keeps unit variance. A continuous moderator
            left out stands at its ``center``; with no moderators this is :attr:`rho`.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> import masem
        >>> pop = masem.example_population()
        >>> float(pop.implied({"industry": "service"}).loc["Y", "M"].round(2))
        0.4
        """
        return pd.DataFrame(
            self._implied_array(moderators or {}).copy(),
            index=self.variables,
            columns=self.variables,
        )

    def _implied_array(self, moderators: Mapping[str, str | float]) -> np.ndarray:
        """:meth:`implied` as a read-only array (the simulation asks once per study)."""
        delta = self._path_shifts(moderators)
        key = tuple(sorted(delta.items()))
        if not delta and key not in self._cache:
            self._cache[key] = frozen(self._rho.to_numpy())  # the anchors exact
        elif key not in self._cache:
            if len(self._cache) >= _CACHE_SIZE:
                # Continuous moderators give (almost) every study its own matrix; a bounded
                # cache keeps the repeated ones without growing with the number of studies.
                self._cache.clear()
            A = self._paths.copy()
            for (i, j), shift in delta.items():
                A[i, j] += shift
            sigma, _ = _implied(A, self._corr, self._endogenous, None, self.variables)
            self._cache[key] = frozen(sigma)
        return self._cache[key]

    def without_moderators(self) -> Population:
        """The same population model with no moderator rows: every study shares :attr:`rho`.

        Returns
        -------
        Population
            A new object; this one is unchanged.

        Examples
        --------
        >>> import masem
        >>> pop = masem.example_population()
        >>> len(pop.moderators), len(pop.without_moderators().moderators)
        (2, 0)
        """
        return self.with_moderators(self._moderators.iloc[0:0])

    def with_moderators(self, moderators: pd.DataFrame) -> Population:
        """The same population model with another moderator table.

        Parameters
        ----------
        moderators : pandas.DataFrame
            Rows as in ``moderators.csv`` (columns ``level``, ``moderator``, ``category``,
            ``lhs``, ``op``, ``rhs``, ``shift``, ``note``, and ``center`` and ``per`` for
            continuous moderators), e.g. :attr:`moderators` with some rows changed or left out;
            rows of other levels are ignored. Checked as :func:`read_population` checks the
            file.

        Returns
        -------
        Population
            A new object with an empty cache of moderated matrices; this one is unchanged.

        Examples
        --------
        >>> import masem
        >>> pop = masem.example_population()
        >>> stronger = pop.moderators.assign(shift=lambda t: 2 * t["shift"])
        >>> stronger_pop = pop.with_moderators(stronger)
        >>> float(stronger_pop.implied({"industry": "service"}).loc["Y", "M"].round(2))
        0.5
        """
        if not isinstance(moderators, pd.DataFrame):
            raise DataError(
                "moderators must be a DataFrame with the columns of moderators.csv, got "
                f"{type(moderators).__name__}."
            )
        missing = [c for c in _MODERATOR_COLUMNS if c not in moderators.columns]
        if missing:
            raise DataError(
                f"the moderator table lacks the column(s) {missing}; required: "
                f"{list(_MODERATOR_COLUMNS)} (and center, per for continuous moderators)."
            )
        text = moderators.reset_index(drop=True).map(_as_text)
        table = _moderator_table(
            text,
            lambda row: f"moderator table, row {row}",
            "moderator table",
            self.level,
            self.variables,
            self._paths,
        )
        return dataclasses.replace(self, _moderators=table, _cache={}, _index={})

    def _path_shifts(self, moderators: Mapping[str, str | float]) -> dict[tuple[int, int], float]:
        """Total change of each moderated path (row, column of A) for the given study."""
        numeric, categorical = self._moderator_rows()
        delta: dict[tuple[int, int], float] = {}
        for name, value in moderators.items():
            if name in numeric:
                if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                    raise DataError(
                        f"moderator {name!r} is continuous in moderators.csv for level "
                        f"{self.level!r}; give a number, not {value!r}."
                    )
                if not np.isfinite(float(value)):
                    raise DataError(f"moderator {name!r} must be finite, got {value!r}.")
                changes = [(cell, slope * (float(value) - c)) for cell, slope, c in numeric[name]]
            elif value in categorical.get(name, {}):
                changes = categorical[name][value]
            else:
                known = {k: sorted(v) for k, v in categorical.items()}
                raise DataError(
                    f"moderator {name!r} = {value!r} is not in moderators.csv for level "
                    f"{self.level!r}; known: {known}, continuous: {sorted(numeric)}."
                )
            for cell, shift in changes:
                delta[cell] = delta.get(cell, 0.0) + shift
        return {cell: shift for cell, shift in delta.items() if shift != 0.0}

    def _moderator_rows(self) -> tuple[dict, dict]:
        """The moderator table as lookups, built once: continuous name -> [(cell, slope per unit,
        center)], categorical name -> {category: [(cell, shift)]}.
        """
        if "rows" not in self._index:
            index = {c: i for i, c in enumerate(self.variables)}
            numeric: dict[str, list] = {}
            categorical: dict[str, dict[str, list]] = {}
            for row in self._moderators.itertuples(index=False):
                cell = (index[row.lhs], index[row.rhs])
                if row.category == "":
                    numeric.setdefault(row.moderator, []).append(
                        (cell, row.shift / row.per, row.center)
                    )
                else:
                    group = categorical.setdefault(row.moderator, {})
                    group.setdefault(row.category, []).append((cell, row.shift))
            self._index["rows"] = (numeric, categorical)
        return self._index["rows"]

    def summary(self) -> pd.DataFrame:
        """One row per pair in codebook order: var1, var2, rho, provenance, source."""
        codes = self.variables
        a, b = np.triu_indices(len(codes), k=1)
        anchors = self._model[self._model["op"] == "=="]
        published = {
            frozenset((lhs, rhs)): note
            for lhs, rhs, note in zip(anchors["lhs"], anchors["rhs"], anchors["note"])
        }
        illustrative = f"implied by the illustrative structural model {self.level}_model.csv"
        source = [
            published.get(frozenset((codes[i], codes[j])), illustrative) for i, j in zip(a, b)
        ]
        return pd.DataFrame(
            {
                "var1": [codes[i] for i in a],
                "var2": [codes[j] for j in b],
                "rho": self._rho.to_numpy()[a, b],
                "provenance": [
                    "illustrative" if s == illustrative else "published" for s in source
                ],
                "source": source,
            }
        )

    def __repr__(self) -> str:
        eig = float(np.linalg.eigvalsh(self._rho.to_numpy())[0])
        n_anchor = int((self._model["op"] == "==").sum())
        return (
            f"Population(level={self.level!r}, constructs={len(self.variables)}, "
            f"published_anchors={n_anchor}, smallest_eigenvalue={eig:.3f})"
        )


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(
            f"{path}: file not found; the population folder needs it (see "
            "data/population/README.md)."
        )
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; required: {list(required)}.")
    return frame


def _number(path: Path, frame: pd.DataFrame, col: str, row: int) -> float:
    text = frame.at[row, col]
    try:
        return float(text)
    except ValueError:
        raise DataError(
            f"{path}, line {row + 2}: column '{col}' has value '{text}', which is not a number."
        ) from None


def read_population(folder: str | Path, level: str) -> Population:
    """Read the population model of one level and compute its implied correlations.

    Parameters
    ----------
    folder : str or pathlib.Path
        A folder with ``constructs.csv``, ``<level>_model.csv`` and ``moderators.csv`` (the
        bundled one is ``data/population``).
    level : {"individual", "team"}

    Returns
    -------
    Population

    Notes
    -----
    ``<level>_model.csv`` rows: ``y ~ x`` a standardised path (an empty value marks a path
    solved to reproduce an anchor), ``u ~~ v`` the correlation of two exogenous variables or of
    two residuals, ``y == x`` a published anchor corr(y, x) = value, which needs a path between
    y and x with an empty value. The implied matrix follows the reticular action model.

    References
    ----------
    McArdle, J. J., & McDonald, R. P. (1984). Some algebraic properties of the reticular action
    model for moment structures. *British Journal of Mathematical and Statistical Psychology*,
    37, 234-251.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> tmp = tempfile.TemporaryDirectory()
    >>> folder = Path(tmp.name)
    >>> _ = (folder / "constructs.csv").write_text(
    ...     "code,name,level,role,description,service_practices,items_min,items_max,weight,"
    ...     "service_weight\\nX,Practices,team,antecedent,,,3,5,1,1\\n"
    ...     "M,Empowerment,team,mediator,,,3,5,1,1\\n"
    ...     "Y,Performance,team,outcome,,,3,5,1,1\\n")
    >>> model = "lhs,op,rhs,value,note\\nM,~,X,0.4,\\nY,~,M,0.3,\\n"
    >>> _ = (folder / "team_model.csv").write_text(model)
    >>> header = "level,moderator,category,lhs,op,rhs,shift,note\\n"
    >>> _ = (folder / "moderators.csv").write_text(header)
    >>> pop = read_population(folder, "team")
    >>> pop.variables, round(float(pop.rho.loc["X", "Y"]), 2)
    (['X', 'M', 'Y'], 0.12)
    >>> tmp.cleanup()
    """
    if level not in LEVELS:
        raise DataError(f"level must be one of {LEVELS}, got {level!r}.")
    folder = Path(folder)
    constructs = _read_constructs(folder / "constructs.csv", level)
    codes = list(constructs["code"])
    model_path = folder / f"{level}_model.csv"
    model = _read_csv(model_path, ("lhs", "op", "rhs", "value", "note"))
    paths, corr, endogenous, anchors = _parse_model(model_path, model, codes)
    sigma, solved_paths = _implied(paths, corr, endogenous, anchors, codes)
    eig = float(np.linalg.eigvalsh(sigma)[0])
    if eig <= _MIN_EIG_TRUE:
        raise ModelError(
            f"{model_path}: the implied correlation matrix is not positive definite (smallest "
            f"eigenvalue {eig:.4f}); weaken the strongest paths or correlations."
        )
    moderators = _read_moderators(folder / "moderators.csv", level, codes, solved_paths)
    solved_paths, corr, endogenous = (
        frozen(a, dtype=None) for a in (solved_paths, corr, endogenous)
    )
    return Population(
        level=level,
        _constructs=constructs,
        _rho=pd.DataFrame(sigma, index=codes, columns=codes),
        _model=model,
        _moderators=moderators,
        _paths=solved_paths,
        _corr=corr,
        _endogenous=endogenous,
    )


def _read_constructs(path: Path, level: str) -> pd.DataFrame:
    frame = _read_csv(
        path, CODEBOOK_COLUMNS + ("items_min", "items_max", "weight", "service_weight")
    )
    frame = frame[frame["level"] == level]
    if frame.empty:
        raise DataError(f"{path}: no construct has level '{level}'.")
    for col, kind in (
        ("items_min", int),
        ("items_max", int),
        ("weight", float),
        ("service_weight", float),
    ):
        frame[col] = [kind(_number(path, frame, col, row)) for row in frame.index]
    return frame.reset_index(drop=True)


def _parse_model(
    path: Path, model: pd.DataFrame, codes: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Path matrix, (residual) correlations, endogenous flags and anchor rows (y, x, value)."""
    index = {c: i for i, c in enumerate(codes)}
    p = len(codes)
    paths, corr = np.zeros((p, p)), np.zeros((p, p))
    endogenous = np.zeros(p, dtype=bool)
    solved, anchors = set(), []
    for row in model.index:
        lhs, op, rhs = model.at[row, "lhs"], model.at[row, "op"], model.at[row, "rhs"]
        for code in (lhs, rhs):
            if code not in index:
                raise ModelError(
                    f"{path}, line {row + 2}: unknown construct '{code}'; add it to constructs.csv "
                    "with this level or fix the code."
                )
        y, x = index[lhs], index[rhs]
        if op == "~":
            endogenous[y] = True
            if model.at[row, "value"] == "":
                solved.add((y, x))
            else:
                paths[y, x] = _number(path, model, "value", row)
        elif op == "~~":
            corr[y, x] = corr[x, y] = _number(path, model, "value", row)
        elif op == "==":
            anchors.append((y, x, _number(path, model, "value", row)))
        else:
            raise ModelError(f"{path}, line {row + 2}: op '{op}' is not one of '~', '~~', '=='.")
    anchor_rows = []
    for y, x, value in anchors:
        pair = (y, x) if (y, x) in solved else (x, y) if (x, y) in solved else None
        if pair is None:
            raise ModelError(
                f"{path}: the anchor {codes[y]} == {codes[x]} needs a path between them with an "
                "empty value, to be solved so that the implied correlation equals the anchor."
            )
        anchor_rows.append((*pair, value))
        solved.discard(pair)
    if solved:
        y, x = sorted(solved)[0]
        raise ModelError(
            f"{path}: the path {codes[y]} ~ {codes[x]} has no value and no anchor; give it a value."
        )
    unused = [c for c in codes if not (model["lhs"].eq(c).any() or model["rhs"].eq(c).any())]
    if unused:
        raise ModelError(f"{path}: construct(s) {unused} do not appear in the model; connect them.")
    adjacency = (paths != 0).astype(float)
    for y, x, _ in anchor_rows:
        adjacency[y, x] = 1.0
    # A recursive model has a nilpotent path matrix; a cycle would make (I - A)^-1 meaningless.
    if np.any(np.linalg.matrix_power(adjacency, p)):
        raise ModelError(f"{path}: the paths form a cycle; the population model must be recursive.")
    return paths, corr, endogenous, np.array(anchor_rows, dtype=float).reshape(-1, 3)


_MODERATOR_COLUMNS = ("level", "moderator", "category", "lhs", "op", "rhs", "shift", "note")


def _read_moderators(path: Path, level: str, codes: list[str], paths: np.ndarray) -> pd.DataFrame:
    """The moderator rows of one level, read from ``moderators.csv`` (:func:`_moderator_table`)."""
    frame = _read_csv(path, _MODERATOR_COLUMNS)
    return _moderator_table(
        frame, lambda row: f"{path}, line {row + 2}", str(path), level, codes, paths
    )


def _moderator_table(
    frame: pd.DataFrame, locate, source: str, level: str, codes: list[str], paths: np.ndarray
) -> pd.DataFrame:
    """The checked moderator rows of one level, from text cells as moderators.csv holds them.

    ``center`` and ``per`` (optional columns) are NaN for categorical rows and required numbers
    for continuous ones (rows without a category); ``locate(row)`` names a row in messages.
    """
    frame = frame.copy()
    for optional in ("center", "per"):
        if optional not in frame.columns:
            frame[optional] = ""
    frame = frame[frame["level"] == level]
    index = {c: i for i, c in enumerate(codes)}
    shifts, centers, pers = [], [], []

    def number(col: str, row: int) -> float:
        text = frame.at[row, col]
        try:
            value = float(text)
        except ValueError:
            value = np.nan
        if not np.isfinite(value):
            raise DataError(
                f"{locate(row)}: column '{col}' has value '{text}', which is not a number."
            )
        return value

    for row in frame.index:
        lhs, op, rhs = frame.at[row, "lhs"], frame.at[row, "op"], frame.at[row, "rhs"]
        if op != "~" or lhs not in index or rhs not in index or not paths[index[lhs], index[rhs]]:
            raise ModelError(
                f"{locate(row)}: the shift of {lhs} {op} {rhs} must name a path '~' of "
                f"{level}_model.csv."
            )
        shifts.append(number("shift", row))
        if frame.at[row, "category"] == "":
            centers.append(number("center", row))
            pers.append(number("per", row))
            if not pers[-1] > 0:
                raise DataError(
                    f"{locate(row)}: column 'per' has value '{frame.at[row, 'per']}'; "
                    "a continuous moderator's unit must be a positive number."
                )
        elif frame.at[row, "center"] != "" or frame.at[row, "per"] != "":
            raise DataError(
                f"{locate(row)}: moderator '{frame.at[row, 'moderator']}' has the "
                f"category '{frame.at[row, 'category']}' and a center or per; leave them empty "
                "for a categorical row, or the category empty for a continuous one."
            )
        else:
            centers.append(np.nan)
            pers.append(np.nan)
    frame = frame.assign(shift=shifts, center=centers, per=pers)
    kinds = frame.groupby("moderator")["category"].agg(lambda c: {v == "" for v in c})
    mixed = sorted(name for name, kind in kinds.items() if len(kind) > 1)
    if mixed:
        raise DataError(
            f"{source}: moderator(s) {mixed} have rows with and without a category; a moderator "
            "is either categorical (every row names a category) or continuous (no row does)."
        )
    columns = ["level", "moderator", "category", "center", "per", "lhs", "op", "rhs", "shift"]
    return frame[columns + ["note"]].reset_index(drop=True)


def _as_text(value: object) -> str:
    """A cell of a moderator table as moderators.csv would hold it (empty for a missing value;
    ``repr`` keeps a float exact).
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return repr(float(value)) if isinstance(value, numbers.Real) else str(value)


def write_population(population: Population, folder: str | Path) -> Path:
    """Write the population's ``<level>_correlations.csv`` into ``folder``.

    Parameters
    ----------
    population : Population
    folder : str or pathlib.Path
        Created when absent.

    Returns
    -------
    pathlib.Path
        The file written: one row per pair (codebook order) with ``var1``, ``var2``, ``rho``
        (four decimals), ``provenance`` and ``source``; UTF-8, ``\\n`` line ends.

    Examples
    --------
    >>> import tempfile
    >>> import masem
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_population(masem.example_population(), folder)
    ...     path.name, path.read_text().splitlines()[0]
    ('team_correlations.csv', 'var1,var2,rho,provenance,source')
    """
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    table = population.summary()
    table["rho"] = [f"{v + 0.0:.4f}" for v in table["rho"]]
    out = path / f"{population.level}_correlations.csv"
    table.to_csv(out, index=False, lineterminator="\n", encoding="utf-8")
    return out


# ----------------------------------------------------------------------------------------------
# Study design
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyDesign:
    """How primary studies are drawn: sizes, measures, coverage, reporting and selection.

    ``default_design(level)`` gives the documented defaults; change a field with
    ``dataclasses.replace``. Proportions are probabilities per study unless said otherwise. The
    fields are commented where they are declared.

    Examples
    --------
    >>> import dataclasses
    >>> import masem
    >>> design = dataclasses.replace(masem.default_design("team"), n_studies=10)
    >>> design.n_studies, design.id_prefix == masem.default_design("team").id_prefix
    (10, True)
    """

    n_studies: int
    id_prefix: str
    n_median: float  # sample size ~ lognormal(log n_median, n_sigma), redrawn outside n_range
    n_sigma: float
    n_range: tuple[int, int]
    empowerment: str  # overall empowerment construct
    dimensions: tuple[str, ...]  # its dimension constructs (may be empty)
    reporting: tuple[tuple[str, float], ...]  # overall / dimensions / both / none
    measures: tuple[
        tuple[str, float, int | None], ...
    ]  # name, share, items (None: construct range)
    dimension_measure: str | None  # the measure used when dimensions are reported
    dimension_items: int
    others: tuple[tuple[int, float], ...]  # number of further constructs and its probability
    service_share: float
    settings: Mapping[str, tuple[str, ...]]
    countries: tuple[tuple[str, int, float], ...]  # country, individualism score, weight
    individualist_min: float  # culture = "individualist" when the score is at least this
    contact: Mapping[str, tuple[float, float]]  # customer contact share ~ Beta(a, b) by industry
    years: tuple[int, int]
    tau: float  # SD of study random effects on Fisher's z, every cell
    reliability: tuple[float, float]  # target reliability = low + (high - low) * Beta(a, b)
    reliability_shape: tuple[float, float]
    loading_jitter: float
    published_share: float
    missing_alpha_share: float
    selection: tuple[str, str] | None  # the pair subject to publication selection
    selection_max_n: int  # a published study with n below this ...
    selection_min_r: float  # ... whose r for the pair is below this ...
    selection_drop: float  # ... is shelved with this probability and replaced (file drawer)
    coverage: tuple[tuple[tuple[str, ...], tuple[str, ...], int], ...]


_CORE = ("HPWP", "SPS", "LEAD", "WCH", "CSE", "PE", "JS", "OC", "STR", "TI", "TP", "SERV", "CSAT")
_DIMS = ("PE_MEA", "PE_COM", "PE_SDT", "PE_IMP")
# Hofstede's individualism index (IDV, 0-100) of each country as published in Hofstede,
# Hofstede & Minkov (2010, ch. 4); weights: the illustrative share of studies from that country.
_COUNTRIES = (
    ("USA", 91, 30.0),
    ("UK", 89, 6.0),
    ("Canada", 80, 5.0),
    ("Australia", 90, 4.0),
    ("Netherlands", 80, 3.0),
    ("Germany", 67, 3.0),
    ("China", 20, 18.0),
    ("Taiwan", 17, 5.0),
    ("South Korea", 18, 5.0),
    ("India", 48, 5.0),
    ("Singapore", 20, 3.0),
    ("Malaysia", 26, 3.0),
    ("Pakistan", 14, 3.0),
    ("Turkey", 37, 3.0),
)
# Share of the job spent in customer contact: mean .7 in service industries, .3 in others.
_CONTACT = {"service": (7.0, 3.0), "other": (3.0, 7.0)}
_SETTINGS = {
    "service": ("hotel", "bank", "call centre", "retail", "restaurant", "hospital"),
    "other": (
        "manufacturing",
        "information technology",
        "engineering",
        "public administration",
        "mixed",
    ),
}

_DESIGNS = {
    "individual": StudyDesign(
        n_studies=150,
        id_prefix="I",
        n_median=200,
        n_sigma=0.9,
        n_range=(40, 4000),
        empowerment="PE",
        dimensions=_DIMS,
        reporting=(("overall", 0.73), ("dimensions", 0.20), ("both", 0.03), ("none", 0.04)),
        measures=(("Spreitzer (1995)", 0.45, 12), ("Menon (2001)", 0.20, 9), ("other", 0.35, None)),
        dimension_measure="Spreitzer (1995)",
        dimension_items=3,
        others=((2, 0.20), (3, 0.25), (4, 0.22), (5, 0.15), (6, 0.10), (7, 0.08)),
        service_share=0.5,
        settings=_SETTINGS,
        countries=_COUNTRIES,
        individualist_min=50.0,
        contact=_CONTACT,
        years=(1995, 2024),
        tau=0.08,
        reliability=(0.70, 0.95),
        reliability_shape=(3.0, 2.0),
        loading_jitter=0.05,
        published_share=0.85,
        missing_alpha_share=0.18,
        selection=("PE", "TP"),
        selection_max_n=300,
        selection_min_r=0.38,
        selection_drop=0.95,
        coverage=((_CORE, _CORE, 3), (_DIMS, _DIMS, 5), (_DIMS, ("JS", "OC", "TP"), 5)),
    ),
    "team": StudyDesign(
        n_studies=45,
        id_prefix="T",
        n_median=50,
        n_sigma=0.6,
        n_range=(15, 400),
        empowerment="T_EMP",
        dimensions=(),
        reporting=(("overall", 1.0),),
        measures=(
            ("Kirkman & Rosen (1999)", 0.55, None),
            ("Spreitzer (1995), aggregated", 0.30, 12),
            ("other", 0.15, None),
        ),
        dimension_measure=None,
        dimension_items=3,
        others=((2, 0.35), (3, 0.40), (4, 0.25)),
        service_share=0.5,
        settings=_SETTINGS,
        countries=_COUNTRIES,
        individualist_min=50.0,
        contact=_CONTACT,
        years=(1995, 2024),
        tau=0.08,
        reliability=(0.70, 0.95),
        reliability_shape=(3.0, 2.0),
        loading_jitter=0.05,
        published_share=0.80,
        missing_alpha_share=0.18,
        selection=None,
        selection_max_n=0,
        selection_min_r=0.0,
        selection_drop=0.0,
        coverage=((("T_LEAD", "T_HPWP", "T_WD", "T_EMP", "T_PERF", "T_CSAT"),) * 2 + (3,),),
    ),
}


def _check_design(pop: Population, design: StudyDesign) -> None:
    """Every construct a design names must be in the population's codebook."""
    named = {design.empowerment, *design.dimensions, *(design.selection or ())}
    for group_a, group_b, _ in design.coverage:
        named.update(group_a, group_b)
    unknown = sorted(named - set(pop.variables))
    if unknown:
        raise DataError(
            f"the study design names construct(s) {unknown} that the {pop.level} population does "
            "not "
            f"have; use codes of {pop.variables}."
        )


def default_design(level: str) -> StudyDesign:
    """The documented study design of the bundled database for ``level`` (see data/README.md).

    Parameters
    ----------
    level : {"individual", "team"}

    Returns
    -------
    StudyDesign
        Frozen; derive a variant with ``dataclasses.replace(design, n_studies=60)``.

    Examples
    --------
    >>> default_design("team").n_studies
    45
    """
    if level not in _DESIGNS:
        raise DataError(f"level must be one of {LEVELS}, got {level!r}.")
    return _DESIGNS[level]


# ----------------------------------------------------------------------------------------------
# Simulation
# ----------------------------------------------------------------------------------------------
def _choice(rng: np.random.Generator, options: tuple, weights: list[float]):
    w = np.asarray(weights, dtype=float)
    return options[int(rng.choice(len(options), p=w / w.sum()))]


def _draw_designs(
    pop: Population, design: StudyDesign, k: int, rng: np.random.Generator
) -> list[dict]:
    """Study characteristics and the constructs each study measures (before coverage repair)."""
    codes = pop.variables
    index = {c: i for i, c in enumerate(codes)}
    constructs = pop.constructs
    pool = np.flatnonzero(
        ~constructs["role"].isin(["empowerment", "empowerment_dimension"]).to_numpy()
    )
    weights = {
        "service": constructs["service_weight"].to_numpy()[pool],
        "other": constructs["weight"].to_numpy()[pool],
    }
    years = np.arange(design.years[0], design.years[1] + 1)
    slots = []
    for _ in range(k):
        year = int(_choice(rng, tuple(years), list(years - years[0] + 1.0)))
        country, individualism, _w = _choice(
            rng, design.countries, [c[2] for c in design.countries]
        )
        culture = "individualist" if individualism >= design.individualist_min else "collectivist"
        industry = "service" if rng.random() < design.service_share else "other"
        setting = _choice(rng, design.settings[industry], [1.0] * len(design.settings[industry]))
        # Two decimals, as the share is written to studies.csv: the true matrix uses that value.
        contact = round(float(rng.beta(*design.contact[industry])), 2) + 0.0
        scores = _choice(
            rng, tuple(r[0] for r in design.reporting), [r[1] for r in design.reporting]
        )
        if scores in ("dimensions", "both"):
            measure = design.dimension_measure
        elif scores == "none":
            measure = "none"
        else:
            measure = _choice(
                rng, tuple(m[0] for m in design.measures), [m[1] for m in design.measures]
            )
        n_others = int(
            _choice(rng, tuple(o[0] for o in design.others), [o[1] for o in design.others])
        )
        n_others += scores == "none"  # a study without empowerment still relates three constructs
        w = weights[industry]
        others = rng.choice(pool, size=n_others, replace=False, p=w / w.sum())
        measured = np.zeros(len(codes), dtype=bool)
        measured[others] = True
        if scores in ("overall", "both"):
            measured[index[design.empowerment]] = True
        if scores in ("dimensions", "both"):
            measured[[index[d] for d in design.dimensions]] = True
        slots.append(
            {
                "year": year,
                "country": country,
                "individualism": individualism,
                "culture": culture,
                "industry": industry,
                "setting": setting,
                "customer_contact": contact,
                "empowerment_measure": measure,
                "empowerment_scores": scores,
                "measured": measured,
            }
        )
    return slots


def _repair_coverage(
    pop: Population, design: StudyDesign, slots: list[dict], rng: np.random.Generator
) -> None:
    """Add constructs to studies until every coverage rule holds (empowerment scores are never
    added).
    """
    codes = pop.variables
    index = {c: i for i, c in enumerate(codes)}
    constructs = pop.constructs
    addable = ~constructs["role"].isin(["empowerment", "empowerment_dimension"]).to_numpy()
    measured = np.array([s["measured"] for s in slots])
    service = np.array([s["industry"] == "service" for s in slots])
    weight = np.where(
        service[:, None], constructs["service_weight"].to_numpy(), constructs["weight"].to_numpy()
    )
    tiebreak = rng.permutation(len(slots))
    for group_a, group_b, minimum in design.coverage:
        for a in (index[c] for c in group_a):
            for b in (index[c] for c in group_b):
                while a != b and np.sum(measured[:, a] & measured[:, b]) < minimum:
                    # Add the missing construct where it is most plausible (e.g. customer ratings in
                    # service industries), then to the study measuring least.
                    add = np.where(measured[:, a], b, a)
                    ok = (measured[:, a] ^ measured[:, b]) & addable[add]
                    if not ok.any():
                        raise ModelError(
                            f"cannot give the pair ({codes[a]}, {codes[b]}) the {minimum} studies "
                            "the "
                            f"design requires with {len(slots)} studies; increase n_studies or "
                            "relax "
                            "the coverage rule."
                        )
                    cand = np.flatnonzero(ok)
                    order = np.lexsort(
                        (tiebreak[cand], measured[cand].sum(axis=1), -weight[cand, add[cand]])
                    )
                    s = cand[order[0]]
                    measured[s, add[s]] = True
    for s, slot in enumerate(slots):
        slot["measured"] = measured[s]


def _draw_n(rng: np.random.Generator, design: StudyDesign) -> int:
    low, high = design.n_range
    while True:
        n = int(round(design.n_median * np.exp(design.n_sigma * rng.standard_normal())))
        if low <= n <= high:
            return n


def _study_truth(rng: np.random.Generator, rho: np.ndarray, tau: float) -> np.ndarray:
    """The study's true matrix: Fisher-z random effects on every cell, redrawn until PD."""
    m = len(rho)
    a, b = np.triu_indices(m, k=1)
    z = np.arctanh(rho[a, b])
    for _ in range(_MAX_DRAWS):
        truth = np.eye(m)
        truth[a, b] = truth[b, a] = np.tanh(z + tau * rng.standard_normal(len(z)))
        if np.linalg.eigvalsh(truth)[0] > _MIN_EIG_TRUE:
            return truth
    raise ModelError(f"no positive definite study matrix in {_MAX_DRAWS} draws; lower tau ({tau}).")


def _three_decimals(values: np.ndarray) -> np.ndarray:
    # Round through the printed text so the stored value is exactly what the CSV will hold.
    return np.array([float(f"{v:.3f}") + 0.0 for v in values])


def _simulate_sample(
    rng: np.random.Generator,
    truth: np.ndarray,
    items: np.ndarray,
    n: int,
    design: StudyDesign,
    generator: str = "items",
) -> tuple[np.ndarray, np.ndarray]:
    """One study's observed scale-score correlations and Cronbach's alphas.

    Each construct j is measured by ``items[j]`` congeneric items x = lambda T_j + e with the
    common loading that gives a target reliability rel (Spearman-Brown: item r = rel / (m - (m - 1)
    rel)), jittered per item. Scale scores are item means, so their correlations are attenuated
    by unreliability as in classical test theory (Spearman, 1904; Lord & Novick, 1968).

    ``generator="items"`` draws the n x K item responses and computes both statistics from them;
    ``"statistics"`` draws the items' sample covariance matrix itself from its Wishart
    distribution (:func:`_sample_covariance`), which has the same joint distribution of the
    correlations and alphas (both are functions of it) at a cost that does not grow with n.
    """
    m = len(truth)
    low, high = design.reliability
    rel = low + (high - low) * rng.beta(*design.reliability_shape, size=m)
    owner = np.repeat(np.arange(m), items)
    item_r = rel / (items - (items - 1) * rel)
    lam = np.sqrt(item_r)[owner] + rng.uniform(
        -design.loading_jitter, design.loading_jitter, size=owner.size
    )
    lam = np.clip(lam, 0.3, 0.97)
    averaging = np.zeros((owner.size, m))
    averaging[np.arange(owner.size), owner] = 1.0 / items[owner]
    if generator == "items":
        true_scores = rng.standard_normal((n, m)) @ np.linalg.cholesky(truth).T
        x = true_scores[:, owner] * lam + rng.standard_normal((n, owner.size)) * np.sqrt(1 - lam**2)
        observed = np.corrcoef(x @ averaging, rowvar=False)
        covariance = np.cov(x, rowvar=False)
    else:
        sigma = np.outer(lam, lam) * truth[np.ix_(owner, owner)]
        np.fill_diagonal(sigma, 1.0)
        covariance = _sample_covariance(rng, sigma, n)
        scales = averaging.T @ covariance @ averaging
        sd = np.sqrt(np.diag(scales))
        observed = scales / np.outer(sd, sd)
    return observed, _cronbach_alpha(covariance, owner, m)


def _cronbach_alpha(covariance: np.ndarray, owner: np.ndarray, m: int) -> np.ndarray:
    """Cronbach's (1951) alpha of each scale from the items' sample covariance matrix:
    k / (k - 1) (1 - sum of the item variances / variance of the item sum), the formula of
    ``pingouin.cronbach_alpha`` without its data frame, for all scales at once.
    """
    k = np.bincount(owner, minlength=m)
    members = (owner[:, None] == np.arange(m)).astype(float)
    item_variances = np.diag(covariance) @ members
    sum_variance = np.einsum("ij,ik,jk->k", covariance, members, members)
    return k / (k - 1) * (1.0 - item_variances / sum_variance)


def _sample_covariance(rng: np.random.Generator, sigma: np.ndarray, n: int) -> np.ndarray:
    """The sample covariance matrix (divisor n - 1) of n normal observations with covariance
    ``sigma``, drawn without the observations.

    (n - 1) S follows the Wishart distribution W(sigma, n - 1); Bartlett's (1933) decomposition
    draws it as L A A' L' with L the Cholesky factor of sigma and A lower triangular, A_ii the
    square root of a chi-square with n - 1 - i degrees of freedom and N(0, 1) below the diagonal
    (Anderson, 2003, sec. 7.2). With fewer observations than variables the matrix is singular and
    the decomposition does not apply; then the observations themselves are drawn.
    """
    K = len(sigma)
    L = np.linalg.cholesky(sigma)
    if n - 1 < K:
        x = rng.standard_normal((n, K)) @ L.T
        return np.cov(x, rowvar=False)
    A = np.tril(rng.standard_normal((K, K)), -1)
    A[np.diag_indices(K)] = np.sqrt(rng.chisquare(n - 1 - np.arange(K)))
    LA = L @ A
    return LA @ LA.T / (n - 1)


def _draw_sample(
    rng: np.random.Generator,
    rho: np.ndarray,
    items: np.ndarray,
    n: int,
    design: StudyDesign,
    selected: tuple[int, int] | None,
    generator: str,
) -> tuple[np.ndarray, np.ndarray]:
    """One study's reported matrix and alphas (three decimals), applying the file drawer.

    ``selected`` is the cell subject to publication selection in this study, or None.
    """
    for _ in range(_MAX_DRAWS):
        observed, alphas = _simulate_sample(
            rng, _study_truth(rng, rho, design.tau), items, n, design, generator
        )
        a, b = np.triu_indices(len(rho), k=1)
        reported = np.eye(len(rho))
        reported[a, b] = reported[b, a] = _three_decimals(observed[a, b])
        if np.linalg.eigvalsh(reported)[0] < _MIN_EIG_OBSERVED or np.any(alphas <= 0):
            continue
        if selected is not None and reported[selected] < design.selection_min_r:
            if rng.random() < design.selection_drop:
                continue
        return reported, _three_decimals(alphas)
    raise ModelError(f"no acceptable sample in {_MAX_DRAWS} draws (n = {n}); check the design.")


def simulate_database(
    population: Population | str | Path,
    level: str | None = None,
    n_studies: int | None = None,
    seed: int = 2011,
    design: StudyDesign | None = None,
    generator: str = "items",
) -> StudyDatabase:
    """Simulate a coded meta-analytic database of primary studies.

    Parameters
    ----------
    population : Population or path
        A population model (:func:`read_population`) or the folder to read it from.
    level : {"individual", "team"}, optional
        Needed when ``population`` is a folder; must match a given Population.
    n_studies : int, optional
        Independent samples to keep (after publication selection); default from the design
        (150 individual, 45 team).
    seed : int, default 2011
        Seed of the ``numpy.random.Generator`` that drives every draw.
    design : StudyDesign, optional
        Default :func:`default_design` of the level.
    generator : {"items", "statistics"}, default "items"
        How a study's correlations and alphas are drawn. ``"items"`` (the bundled database):
        item-level responses of n people, from which the scale scores' correlations and
        Cronbach's alphas are computed. ``"statistics"`` (for simulation studies): the items'
        sample covariance matrix is drawn from its Wishart distribution (Bartlett, 1933) and
        both statistics are computed from it; their joint distribution is the same (for normal
        items, exactly), the cost no longer grows with n, and the draws differ from
        ``"items"`` for the same seed.

    Returns
    -------
    StudyDatabase
        Validated like a database read from disk; write it with :func:`masem.write_database`.

    Notes
    -----
    1. Study slots: year, country (its individualism score and, from the score, its culture),
       industry, setting and share of customer contact (a Beta draw by industry), the
       empowerment scores reported (overall / dimensions / both / none) and measure, and 2-7
       further constructs drawn with the codebook weights of the industry. Coverage rules of the
       design are then met by adding constructs to the studies that measure fewest.
    2. Each slot draws n (truncated lognormal) and whether it is published, then a sample: its
       true matrix is the population at the study's moderator values
       (:meth:`Population.implied`: its paths change with the true slopes) plus N(0, tau^2)
       random effects on every Fisher-z cell, redrawn until positive definite (Hedges & Vevea,
       1998); item-level data (or, with ``generator="statistics"``, the items' sample
       covariance matrix) give the observed r of the scale scores and Cronbach's (1951) alpha
       of each scale (:func:`_simulate_sample`).
    3. File drawer (Rosenthal, 1979): in a published study with n below
       ``design.selection_max_n`` whose r for ``design.selection`` is below
       ``selection_min_r``, the sample is shelved with probability ``selection_drop`` and a new
       sample of the same design and size is drawn. Small published studies thus over-report the
       relation: a small-study effect that Egger's test detects (Egger et al., 1997).
    4. A share ``missing_alpha_share`` of studies omits one or more of its alphas.

    References
    ----------
    Anderson, T. W. (2003). *An introduction to multivariate statistical analysis* (3rd ed.).
    Wiley.
    Bartlett, M. S. (1933). On the theory of statistical regression. *Proceedings of the Royal
    Society of Edinburgh*, 53, 260-283.
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests.
    *Psychometrika*, 16, 297-334.
    Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in meta-analysis
    detected by a simple, graphical test. *BMJ*, 315, 629-634.
    Hedges, L. V., & Vevea, J. L. (1998). Fixed- and random-effects models in meta-analysis.
    *Psychological Methods*, 3, 486-504.
    Hofstede, G., Hofstede, G. J., & Minkov, M. (2010). *Cultures and organizations: Software
    of the mind* (3rd ed.). McGraw-Hill (the individualism scores of the default design).
    Rosenthal, R. (1979). The "file drawer problem" and tolerance for null results.
    *Psychological Bulletin*, 86, 638-641.
    Spearman, C. (1904). The proof and measurement of association between two things.
    *American Journal of Psychology*, 15, 72-101.

    Examples
    --------
    The default design of a level says how many studies are drawn and how; the population comes
    from the project's ``data/population`` folder, which is not part of the package:

    >>> default_design("team").n_studies
    45
    >>> db = simulate_database("data/population", "team", seed=1)  # doctest: +SKIP
    """
    pop, design, n_studies, moderator_names = _simulation_inputs(
        population, level, n_studies, seed, design
    )
    generator = choose(generator, _GENERATORS, "generator", DataError)
    rng = np.random.default_rng(seed)
    codes = pop.variables
    index = {c: i for i, c in enumerate(codes)}
    slots = _draw_designs(pop, design, n_studies, rng)
    _repair_coverage(pop, design, slots, rng)

    items_range = pop.constructs[["items_min", "items_max"]].to_numpy()
    measure_items = {m[0]: m[2] for m in design.measures}
    dims = [index[d] for d in design.dimensions]
    pair = tuple(index[c] for c in design.selection) if design.selection else None
    studies, correlations, reliabilities = [], [], []
    for s, slot in enumerate(slots):
        idx = np.flatnonzero(slot["measured"])
        items = rng.integers(items_range[idx, 0], items_range[idx, 1] + 1)
        if measure_items.get(slot["empowerment_measure"]):
            items[idx == index[design.empowerment]] = measure_items[slot["empowerment_measure"]]
        items[np.isin(idx, dims)] = design.dimension_items
        rho = pop._implied_array({k: slot[k] for k in moderator_names})[np.ix_(idx, idx)]
        n = _draw_n(rng, design)
        published = bool(rng.random() < design.published_share)
        at_risk = (
            pair is not None and published and n < design.selection_max_n and set(pair) <= set(idx)
        )
        target = (
            (int(np.searchsorted(idx, pair[0])), int(np.searchsorted(idx, pair[1])))
            if at_risk
            else None
        )
        r, alphas = _draw_sample(rng, rho, items, n, design, target, generator)
        sid = f"{design.id_prefix}{s + 1:03d}"
        studies.append(_study_row(sid, s, slot, published, n))
        a, b = np.triu_indices(len(idx), k=1)
        correlations.extend(
            {"study_id": sid, "var1": codes[idx[i]], "var2": codes[idx[j]], "r": rv, "n": n}
            for i, j, rv in zip(a, b, r[a, b])
        )
        reliabilities.append((sid, idx, alphas))

    rel_rows = _reported_reliabilities(rng, design, reliabilities, codes)
    return StudyDatabase.from_frames(
        studies=pd.DataFrame(studies),
        correlations=pd.DataFrame(correlations),
        constructs=pop.constructs[list(CODEBOOK_COLUMNS)].reset_index(drop=True),
        reliabilities=pd.DataFrame(rel_rows, columns=["study_id", "variable", "alpha"]),
        metadata={"simulated": True, "source": f"masem.simulate_database, seed {seed}"},
    )


def _simulation_inputs(population, level, n_studies, seed, design) -> tuple:
    """The population, design, number of studies and moderators of a simulation, checked."""
    pop = (
        population
        if isinstance(population, Population)
        else read_population(population, level or "")
    )
    if level is not None and level != pop.level:
        raise DataError(f"level {level!r} does not match the population's level {pop.level!r}.")
    design = default_design(pop.level) if design is None else design
    _check_design(pop, design)
    n_studies = design.n_studies if n_studies is None else n_studies
    if isinstance(n_studies, bool) or not isinstance(n_studies, (int, np.integer)) or n_studies < 1:
        raise DataError(f"n_studies must be a positive integer, got {n_studies!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}.")
    mods = pop.moderators
    moderator_names = sorted(set(mods["moderator"]))
    for name in moderator_names:
        continuous = (mods.loc[mods["moderator"] == name, "category"] == "").all()
        kind = "continuous" if continuous else "categorical"
        if _STUDY_MODERATORS.get(name) != kind:
            columns = [f"{c} ({k})" for c, k in _STUDY_MODERATORS.items()]
            raise ModelError(
                f"moderators.csv has the {kind} moderator {name!r}; a simulated study has the "
                f"columns {columns}: name one of them, with a category for a categorical column "
                "and center / per for a continuous one."
            )
    return pop, design, n_studies, moderator_names


_SLOT_COLUMNS = (
    "year",
    "country",
    "individualism",
    "culture",
    "industry",
    "setting",
    "customer_contact",
    "empowerment_measure",
    "empowerment_scores",
)


def _study_row(sid: str, s: int, slot: dict, published: bool, n: int) -> dict:
    """One row of studies.csv."""
    return {
        "study_id": sid,
        "label": (
            f"Simulated sample {s + 1:03d} ({slot['setting']}, {slot['country']}, {slot['year']})"
        ),
        **{k: slot[k] for k in _SLOT_COLUMNS},
        "published": int(published),
        "n": n,
    }


def _reported_reliabilities(
    rng: np.random.Generator, design, reliabilities: list, codes: list
) -> list:
    """The alphas the studies report: some studies leave some out (design.missing_alpha_share)."""
    rows = []
    for sid, idx, alphas in reliabilities:
        keep = np.ones(len(idx), dtype=bool)
        if rng.random() < design.missing_alpha_share:
            keep[rng.choice(len(idx), size=int(rng.integers(1, len(idx) + 1)), replace=False)] = (
                False
            )
        rows.extend(
            {"study_id": sid, "variable": codes[v], "alpha": al}
            for v, al, k in zip(idx, alphas, keep)
            if k
        )
    return rows
