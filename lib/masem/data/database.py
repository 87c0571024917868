"""The study database: CSV files, validated, and their conversion to per-study matrices.

A database is a folder with

``studies.csv``        one row per independent sample: ``study_id``, ``n`` and any moderators;
``correlations.csv``   one row per reported correlation: ``study_id``, ``var1``, ``var2``, ``r``
                       (and optionally the pairwise ``n``);
``constructs.csv``     the codebook: ``code``, ``name`` and any description columns;
``reliabilities.csv``  optional, one row per reported reliability: ``study_id``, ``variable``,
                       ``alpha``;
``measured.csv``       optional, one row per construct a study measured: ``study_id``,
                       ``variable``;
``metadata.json``      optional, what the database is: ``{"source": "...", "simulated": false}``.

A study measured every construct that appears in one of its correlations (the only rule for a
database without ``measured.csv``) and every construct ``measured.csv`` lists for it. So a
correlation that a study does not report between two constructs it measured is "measured, not
reported", metaSEM's unit diagonal with a missing off-diagonal cell (Cheung, 2015, sec. 6.3), and
a study can be kept with no correlation at all.

:func:`read_database` validates everything up front so that the estimators never see a typo; each
message names the file, its line (1-based, as a spreadsheet or editor shows it), the study, the
column and the offending value, and says what to do. Whether a study's correlations are positive
definite is a question about the variables of an analysis, so :meth:`StudyDatabase.matrices`
answers it (with a warning; the ``masem`` command refuses such a study unless told to keep it).
The library never writes to the folder it reads; :func:`write_database` writes a database to a
folder of your choice.

References
----------
Cheung, M. W.-L. (2015). *Meta-Analysis: A Structural Equation Modeling Approach*. Wiley.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from masem._util import did_you_mean, frozen
from masem.data import _tables as tables_
from masem.data._tables import Table, frame_table, read_metadata, read_table
from masem.data.cordata import CorData, cor_data
from masem.data.selection import (
    EMPTY_ELSEWHERE,
    EMPTY_REFUSED,
    FEW_PAIRS,
    OTHER_CONSTRUCTS,
    PD_TOL,
    PairCounts,
    StudyMatrices,
    StudySelection,
    smallest_eigenvalue,
    span,
)
from masem.errors import ConvergenceWarning, DataError

__all__ = [
    "PairCounts",
    "StudyDatabase",
    "StudyMatrices",
    "StudySelection",
    "read_database",
    "write_database",
]

_DECIMALS = {"r": 3, "alpha": 3}
_KINDS = ("studies", "correlations", "constructs", "reliabilities", "measured")


@dataclass(frozen=True, repr=False, eq=False)
class StudyDatabase:
    """A validated study database. Build it with :func:`read_database` or :meth:`from_frames`.

    The tables are available as read-only copies: :attr:`studies`, :attr:`correlations`,
    :attr:`reliabilities`, :attr:`constructs` and :attr:`measured`.

    Attributes
    ----------
    studies : pandas.DataFrame
        One row per study: ``study_id``, ``label``, ``n`` and the moderators.
    correlations : pandas.DataFrame
        One row per reported correlation: ``study_id``, ``var1``, ``var2``, ``r``.
    reliabilities : pandas.DataFrame
        One row per reported reliability: ``study_id``, ``variable``, ``alpha``.
    constructs : pandas.DataFrame
        The codebook: ``code``, ``name`` (and descriptions).
    measured : pandas.DataFrame
        ``study_id``, ``variable``: constructs a study measured beyond those of its
        correlations (``measured.csv``; empty when the folder has none).
    metadata : mapping
        What the database is (``metadata.json``): ``source``, ``simulated``, ...; empty when
        the folder has none.
    folder : str or None
        The folder it was read from (None when built in memory).

    Examples
    --------
    >>> import masem
    >>> db = masem.example_data("Becker92").database()
    >>> len(db.studies), list(db.constructs["code"])
    (6, ['Math', 'Spatial', 'Verbal'])
    """

    _studies: pd.DataFrame
    _correlations: pd.DataFrame
    _reliabilities: pd.DataFrame
    _constructs: pd.DataFrame
    folder: str | None = None
    # Integer codes of the long table, so that matrices() is a few fancy-indexing operations.
    _pos: dict = field(default_factory=dict)
    _measured: pd.DataFrame = field(default_factory=lambda: frame_table(None, "measured").raw)
    _metadata: dict = field(default_factory=dict)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        studies: pd.DataFrame,
        correlations: pd.DataFrame,
        constructs: pd.DataFrame,
        reliabilities: pd.DataFrame | None = None,
        measured: pd.DataFrame | None = None,
        metadata: Mapping | None = None,
    ) -> StudyDatabase:
        """Validate in-memory tables with the same rules as :func:`read_database`.

        Parameters
        ----------
        studies, correlations, constructs : pandas.DataFrame
            Tables with the columns described in :func:`read_database`.
        reliabilities : pandas.DataFrame, optional
            ``study_id``, ``variable``, ``alpha``; omitted means no reliabilities were reported.
        measured : pandas.DataFrame, optional
            ``study_id``, ``variable``: constructs a study measured beyond those of its
            correlations; omitted means none.
        metadata : mapping, optional
            What the database is, as in ``metadata.json`` (``source``, ``simulated``, ...).

        Returns
        -------
        StudyDatabase

        Examples
        --------
        >>> import pandas as pd
        >>> import masem
        >>> db = masem.StudyDatabase.from_frames(
        ...     pd.DataFrame({"study_id": ["S1", "S2"], "n": [120, 80]}),
        ...     pd.DataFrame({"study_id": ["S1"], "var1": ["A"], "var2": ["B"], "r": [0.3]}),
        ...     pd.DataFrame({"code": ["A", "B"], "name": ["Alpha", "Beta"]}),
        ...     measured=pd.DataFrame({"study_id": ["S2", "S2"], "variable": ["A", "B"]}))
        >>> db.summary()[["code", "k", "n"]].values.tolist()
        [['A', 2, 200], ['B', 2, 200]]
        """
        frames = {
            "studies": studies,
            "correlations": correlations,
            "constructs": constructs,
            "reliabilities": reliabilities,
            "measured": measured,
        }
        tables = {kind: frame_table(frame, kind) for kind, frame in frames.items()}
        if metadata is not None and not isinstance(metadata, Mapping):
            raise DataError(f"metadata must be a mapping (a dict), got {type(metadata).__name__}.")
        return _build(tables, folder=None, metadata=dict(metadata or {}))

    # -- the tables --------------------------------------------------------------------------
    @property
    def studies(self) -> pd.DataFrame:
        """One row per independent sample (a copy)."""
        return self._studies.copy()

    @property
    def correlations(self) -> pd.DataFrame:
        """One row per reported correlation (a copy)."""
        return self._correlations.copy()

    @property
    def reliabilities(self) -> pd.DataFrame:
        """One row per reported reliability (a copy)."""
        return self._reliabilities.copy()

    @property
    def constructs(self) -> pd.DataFrame:
        """The codebook (a copy)."""
        return self._constructs.copy()

    @property
    def measured(self) -> pd.DataFrame:
        """Constructs a study measured beyond those of its correlations (a copy of
        ``measured.csv``).
        """
        return self._measured.copy()

    @property
    def metadata(self) -> Mapping:
        """What the database is (``metadata.json``), read-only."""
        return MappingProxyType(self._metadata)

    @property
    def simulated(self) -> bool:
        """True when the metadata say the studies are simulated (the bundled databases)."""
        return bool(self._metadata.get("simulated", False))

    # -- views ---------------------------------------------------------------------------------
    def _indices(self, variables: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
        codes = self._pos["codes"]
        if variables is None:
            return list(codes), np.arange(len(codes))
        if isinstance(variables, str) or not isinstance(variables, Sequence):
            raise DataError(
                f"variables must be a list of construct codes, got {variables!r}; e.g. ['PE', "
                "'JS']."
            )
        variables = [str(v) for v in variables]
        unknown = [v for v in variables if v not in self._pos["code_index"]]
        if unknown:
            hints = [f"{v!r}: {did_you_mean(v, codes)}" for v in unknown if did_you_mean(v, codes)]
            raise DataError(
                f"unknown variable{'s' if len(unknown) > 1 else ''} {unknown}"
                f"{' (' + '; '.join(hints) + ')' if hints else ''}; the codebook has "
                f"{list(codes)}."
            )
        repeated = sorted({v for v in variables if variables.count(v) > 1})
        if repeated:
            raise DataError(
                f"variables {repeated} are listed more than once; list each variable once."
            )
        if len(variables) < 2:
            raise DataError(
                f"need at least two variables for correlation matrices, got {variables}."
            )
        return variables, np.array([self._pos["code_index"][v] for v in variables])

    def matrices(
        self,
        variables: Sequence[str],
        min_pairs: int = 1,
        corrected: bool = False,
        keep_empty: bool = True,
    ) -> StudyMatrices:
        """Per-study correlation matrices over ``variables``, in the requested order.

        Parameters
        ----------
        variables : list of str
            Construct codes (at least two).
        min_pairs : int, default 1
            Keep only studies that report at least this many correlations among ``variables``
            (studies without any correlation at all aside, see ``keep_empty``).
        corrected : bool, default False
            Correct each correlation for unreliability, r / sqrt(rxx * ryy) (Spearman, 1904), with
            the study's reported alphas; a missing alpha is replaced by the sample-size-weighted
            mean alpha of that construct over the studies reporting one (the mean-reliability
            imputation of Hunter & Schmidt, 2004, ch. 3).
        keep_empty : bool, default True
            Keep a study that reports no correlation at all (unless ``measured.csv`` says it
            measured only other constructs): as in metaSEM, it counts in the total N and in the
            typical within-study variance of I2 (Cheung, 2015). False leaves it out.

        Returns
        -------
        StudyMatrices
            ``matrices`` (list of p x p DataFrames: NaN = unreported, NaN diagonal = not
            measured), ``n`` and ``study_ids`` of the kept studies, in ``studies.csv`` order;
            ``selection`` records the studies left out and why, the correlations missing, and
            the studies that are not positive definite (``report()`` prints it).

        Raises
        ------
        DataError
            With ``corrected=True``: a construct without any reported alpha, or a corrected
            correlation outside (-1, 1) (names the study, the pair and the values).

        Warns
        -----
        ConvergenceWarning
            When a kept study's correlations among ``variables`` are not positive definite
            (they cannot come from one sample; a typo is likely). The study is kept: REM uses
            each of its correlations, FEM refuses it; ``subset(exclude=[...])`` leaves it out.

        Notes
        -----
        A study is kept when it reports at least ``min_pairs`` correlations among
        ``variables``, or no correlation at all (``keep_empty``); one whose correlations all
        involve other constructs is evidence about other relations and is left out.

        Corrected matrices are meant for sensitivity analyses. TSSEM computes their sampling
        covariance as if they were observed correlations with the study's n, which understates
        it by the factor 1 / (rxx ryy); standard errors from corrected matrices are therefore
        somewhat too small (Cheung, 2015, sec. 7.5 discusses the options).

        References
        ----------
        Spearman, C. (1904). The proof and measurement of association between two things.
        *American Journal of Psychology*, 15, 72-101.
        Hunter, J. E., & Schmidt, F. L. (2004). *Methods of meta-analysis* (2nd ed.). Sage.
        Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.

        Examples
        --------
        >>> import masem
        >>> db = masem.example_data("Hunter83").database()
        >>> m = db.matrices(["Ability", "Job_knowledge", "Supervisor"], min_pairs=1)
        >>> len(m.matrices), int(m.n.sum())
        (14, 3975)
        """
        variables, idx = self._indices(variables)
        for name, value in (("corrected", corrected), ("keep_empty", keep_empty)):
            if not isinstance(value, (bool, np.bool_)):
                raise DataError(f"{name} must be True or False, got {value!r}.")
        if (
            isinstance(min_pairs, bool)
            or not isinstance(min_pairs, (int, np.integer))
            or min_pairs < 1
        ):
            raise DataError(f"min_pairs must be a positive integer, got {min_pairs!r}.")
        pos = self._pos
        p, k = len(variables), len(self._studies)
        where = np.full(len(pos["codes"]), -1)
        where[idx] = np.arange(p)
        a, b = where[pos["i"]], where[pos["j"]]
        rows = np.flatnonzero((a >= 0) & (b >= 0))
        s, a, b = pos["study"][rows], a[rows], b[rows]
        cube = np.full((k, p, p), np.nan)
        cube[s, a, b] = pos["r"][rows]
        cube[s, b, a] = pos["r"][rows]
        cube[:, np.arange(p), np.arange(p)] = np.where(pos["measured"][:, idx], 1.0, np.nan)
        pairs = np.bincount(s, minlength=k)
        keep, dropped = self._kept(pairs, idx, min_pairs, bool(keep_empty))
        if corrected:
            cube = self._disattenuate(cube, variables, keep)
        selection = self._selection(variables, cube, keep, dropped, pairs, rows)
        if selection.nonpd:
            warnings.warn(_nonpd_warning(selection), ConvergenceWarning, stacklevel=2)
        return StudyMatrices(
            variables=list(variables),
            matrices=[pd.DataFrame(cube[t], index=variables, columns=variables) for t in keep],
            n=frozen(pos["n"][keep], dtype=None),
            study_ids=[pos["study_ids"][t] for t in keep],
            corrected=bool(corrected),
            selection=selection,
        )

    def _kept(
        self, pairs: np.ndarray, idx: np.ndarray, min_pairs: int, keep_empty: bool
    ) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """Positions of the studies kept, and (id, reason) of the others; see matrices()."""
        pos = self._pos
        empty = pos["n_correlations"] == 0
        elsewhere = pos["measured"].any(axis=1) & ~pos["measured"][:, idx].any(axis=1)
        keep = (pairs >= min_pairs) | (keep_empty & empty & ~elsewhere)
        dropped = []
        for t in np.flatnonzero(~keep):
            if empty[t]:
                reason = EMPTY_ELSEWHERE if keep_empty else EMPTY_REFUSED
            elif pairs[t] == 0:
                reason = OTHER_CONSTRUCTS
            else:
                reason = f"{FEW_PAIRS} = {min_pairs}"
            dropped.append((pos["study_ids"][t], reason))
        return np.flatnonzero(keep), dropped

    def _selection(
        self,
        variables: list[str],
        cube: np.ndarray,
        keep: np.ndarray,
        dropped: list[tuple[str, str]],
        pairs: np.ndarray,
        rows: np.ndarray,
    ) -> StudySelection:
        """The record of matrices(): kept and dropped studies, missing and unreported cells,
        studies that are not positive definite, and where their rows are.
        """
        pos = self._pos
        ids = pos["study_ids"]
        p = len(variables)
        kept = cube[keep]
        off = ~np.isnan(kept) & ~np.eye(p, dtype=bool)
        # A variable without any reported correlation here counts as not measured (tssem1 does
        # the same), so its cells are never "measured, not reported".
        active = off.any(axis=2)
        upper = np.triu(np.ones((p, p), dtype=bool), k=1)
        gaps = active[:, :, None] & active[:, None, :] & ~off & upper
        unreported = [(ids[keep[t]], variables[i], variables[j]) for t, i, j in np.argwhere(gaps)]
        nonpd = []
        for t, study in enumerate(keep):
            block = kept[t][np.ix_(active[t], active[t])]
            found = smallest_eigenvalue(block)
            if found is not None and found[0] <= PD_TOL:
                names = tuple(np.array(variables)[active[t]][found[1]])
                nonpd.append((ids[study], found[0], names))
        mentioned = {sid for sid, _, _ in unreported} | {sid for sid, _, _ in nonpd}
        study_of_row = pos["study"][rows]
        where = {
            ids[t]: span(
                pos["files"]["correlations"], [pos["cor_where"][r] for r in rows[study_of_row == t]]
            )
            for t in keep
            if ids[t] in mentioned
        }
        return StudySelection(
            variables=tuple(variables),
            n_database=len(ids),
            kept=tuple(ids[t] for t in keep),
            total_n=int(pos["n"][keep].sum()),
            without_correlations=tuple(ids[t] for t in keep if pairs[t] == 0),
            dropped=tuple(dropped),
            cells_reported=int(pairs[keep].sum()),
            cells_possible=len(keep) * p * (p - 1) // 2,
            unreported=tuple(unreported),
            nonpd=tuple(nonpd),
            where=where,
        )

    def _disattenuate(self, cube: np.ndarray, variables: list[str], keep: np.ndarray) -> np.ndarray:
        """Divide every correlation of ``cube`` (studies x p x p) by sqrt(rxx ryy); see
        matrices().
        """
        rel = self._reliabilities
        ids = self._pos["study_ids"]
        n_of = dict(zip(ids, self._pos["n"]))
        alpha = np.full((len(ids), len(variables)), np.nan)
        row_of = {sid: t for t, sid in enumerate(ids)}
        for j, code in enumerate(variables):
            reported = rel[rel["variable"] == code]
            if reported.empty:
                raise DataError(
                    "corrected=True needs reliabilities, but no study reports an alpha for "
                    f"{code}; "
                    "add them to reliabilities.csv or use corrected=False."
                )
            weights = reported["study_id"].map(n_of).to_numpy(dtype=float)
            mean_alpha = float(np.average(reported["alpha"].to_numpy(dtype=float), weights=weights))
            alpha[:, j] = mean_alpha
            alpha[reported["study_id"].map(row_of).to_numpy(), j] = reported["alpha"].to_numpy(
                dtype=float
            )
        out = cube / np.sqrt(alpha[:, :, None] * alpha[:, None, :])
        p = len(variables)
        out[:, np.arange(p), np.arange(p)] = cube[:, np.arange(p), np.arange(p)]
        bad = np.argwhere((np.abs(out) >= 1) & ~np.eye(p, dtype=bool)[None])
        bad = bad[np.isin(bad[:, 0], keep)]
        if len(bad):
            t, a, b = bad[0]
            raise DataError(
                f"study '{ids[t]}': the correlation of {variables[a]} and {variables[b]} "
                f"(r = {cube[t, a, b]:.3f}) corrected with alphas {alpha[t, a]:.3f} and "
                f"{alpha[t, b]:.3f} "
                f"is {out[t, a, b]:.3f}, outside (-1, 1); check the study's r and alphas, or "
                "exclude "
                "the study with subset(exclude=[...])."
            )
        return out

    def subset(
        self,
        studies: Sequence[str] | None = None,
        *,
        exclude: Sequence[str] | None = None,
        **moderators: object,
    ) -> StudyDatabase:
        """A database with only some of the studies (their correlations and reliabilities follow).

        Parameters
        ----------
        studies : list of str, optional
            Study ids to keep (default: all).
        exclude : list of str, optional
            Study ids to drop.
        **moderators
            ``column=value`` or ``column=[values]`` on columns of ``studies.csv``, e.g.
            ``industry="service"`` or ``published=1``. Conditions are combined with "and".

        Returns
        -------
        StudyDatabase
            A new, validated database (the codebook is kept whole); this one is unchanged.

        Raises
        ------
        DataError
            For an unknown study id or column, a value no study has, or when no study is left.

        Examples
        --------
        >>> import masem
        >>> db = masem.example_data("Nohe15A1").database()
        >>> db.subset(Publication="P")
        StudyDatabase(studies=19, correlations=114, reliabilities=0, constructs=4)
        """
        table = self._studies
        ids = table["study_id"]
        keep = pd.Series(True, index=table.index)
        for argument, chosen in (("studies", studies), ("exclude", exclude)):
            if chosen is None:
                continue
            if isinstance(chosen, str) or not isinstance(chosen, Sequence):
                raise DataError(f"{argument} must be a list of study ids, got {chosen!r}.")
            unknown = [c for c in chosen if c not in set(ids)]
            if unknown:
                hints = [did_you_mean(c, ids) for c in unknown]
                hint = "; ".join(f"{c!r}: {h}" for c, h in zip(unknown, hints) if h)
                raise DataError(
                    f"{argument}: unknown study id{'s' if len(unknown) > 1 else ''} {unknown}"
                    f"{f' ({hint})' if hint else ''}; the database has {len(ids)} studies "
                    f"({ids.iloc[0]} ... {ids.iloc[-1]})."
                )
            inside = ids.isin(list(chosen))
            keep &= inside if argument == "studies" else ~inside
        for column, wanted in moderators.items():
            if column not in table.columns or column in ("study_id", "n"):
                choices = [c for c in table.columns if c not in ("study_id", "n")]
                hint = did_you_mean(column, choices)
                raise DataError(
                    f"unknown moderator column {column!r}{f' ({hint})' if hint else ''}; "
                    f"studies.csv has {choices}."
                )
            values = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
            present = set(table[column].dropna().tolist())
            absent = [v for v in values if v not in present]
            if absent:
                raise DataError(
                    f"no study has {column} = {absent[0]!r}; the values of {column} are "
                    f"{sorted(present, key=str)}."
                )
            keep &= table[column].isin(values)
        if not keep.any():
            raise DataError(
                f"no study is left after subset(studies={studies!r}, exclude={exclude!r}, "
                f"{', '.join(f'{k}={v!r}' for k, v in moderators.items())})."
            )
        kept = set(ids[keep])

        def rows(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame["study_id"].isin(kept)].reset_index(drop=True)

        return StudyDatabase.from_frames(
            self._studies[keep].reset_index(drop=True),
            rows(self._correlations),
            self._constructs,
            rows(self._reliabilities),
            rows(self._measured),
            metadata=dict(self._metadata),
        )

    def pair(self, var1: str, var2: str) -> pd.DataFrame:
        """Every study reporting the correlation of ``var1`` and ``var2``: the input of a bivariate
        meta-analysis.

        Parameters
        ----------
        var1, var2 : str
            Construct codes (either order).

        Returns
        -------
        DataFrame
            One row per reporting study, in ``studies.csv`` order: ``study_id``, ``r``, ``n`` (the
            study's sample size), ``rxx`` and ``ryy`` (the reported alphas of ``var1`` and ``var2``,
            NaN when not reported), then every moderator column of ``studies.csv``.

        Raises
        ------
        DataError
            For an unknown code, the same code twice, or a pair no study reports.
        """
        variables, _ = self._indices([var1, var2])
        a, b = variables
        corr = self._correlations
        rows = corr[
            ((corr["var1"] == a) & (corr["var2"] == b))
            | ((corr["var1"] == b) & (corr["var2"] == a))
        ]
        if rows.empty:
            raise DataError(
                f"no study reports the correlation of {a} and {b}; "
                f"see pair_counts() for the pairs the database covers."
            )
        alphas = self._reliabilities.pivot(index="study_id", columns="variable", values="alpha")
        out = rows[["study_id", "r"]].merge(self._studies, on="study_id", how="left")
        out.insert(3, "rxx", out["study_id"].map(alphas[a]) if a in alphas else np.nan)
        out.insert(4, "ryy", out["study_id"].map(alphas[b]) if b in alphas else np.nan)
        order = {sid: i for i, sid in enumerate(self._studies["study_id"])}
        out = out.sort_values("study_id", key=lambda s: s.map(order)).reset_index(drop=True)
        moderators = [c for c in self._studies.columns if c not in ("study_id", "n")]
        return out[["study_id", "r", "n", "rxx", "ryy", *moderators]]

    def pair_counts(self, variables: Sequence[str] | None = None) -> PairCounts:
        """Number of studies ``k`` and total N per pair of ``variables`` (default: all constructs).

        Parameters
        ----------
        variables : list of str, optional
            Construct codes; default all, in codebook order.

        Returns
        -------
        PairCounts
            ``k`` and ``n`` as p x p DataFrames; the diagonal counts studies measuring the variable.
            ``n`` sums the study sample sizes of ``studies.csv``.

        Examples
        --------
        >>> import masem
        >>> db = masem.example_data("Hunter83").database()
        >>> db.pair_counts(["Ability", "Job_knowledge", "Supervisor"]).summary()
                    var1           var2   k     n
        0        Ability  Job_knowledge  11  3372
        1        Ability     Supervisor  12  3605
        2  Job_knowledge     Supervisor  11  3322
        """
        variables, idx = self._indices(variables)
        pos = self._pos
        M = pos["measured"][:, idx].astype(float)
        reported = np.zeros((len(self._studies), len(pos["codes"]), len(pos["codes"])), dtype=bool)
        reported[pos["study"], pos["i"], pos["j"]] = True
        reported[pos["study"], pos["j"], pos["i"]] = True
        rep = reported[:, idx][:, :, idx].astype(float)
        rep[:, np.arange(len(idx)), np.arange(len(idx))] = M
        k = rep.sum(axis=0).astype("int64")
        n = np.einsum("s,sab->ab", pos["n"].astype(float), rep).astype("int64")
        return PairCounts(
            k=pd.DataFrame(k, index=variables, columns=variables),
            n=pd.DataFrame(n, index=variables, columns=variables),
        )

    def cor_data(
        self, variables: Sequence[str], moderators: Sequence[str] | None = None, min_pairs: int = 1
    ) -> CorData:
        """The studies' correlations over ``variables`` with moderators, for :func:`masem.osmasem`.

        The same object as :func:`masem.cor_data` (metaSEM's ``Cor2DataFrame``) builds from the
        matrices of :meth:`matrices`: observed correlations, their sampling covariances at the
        n-weighted mean matrix, and the moderator columns of ``studies.csv`` as given.

        Parameters
        ----------
        variables : list of str
            Construct codes (at least two), in the order wanted.
        moderators : list of str, optional
            Columns of ``studies.csv`` (e.g. ``"individualism"``, ``"year"``).
        min_pairs : int, default 1
            Keep only studies that report at least this many correlations among ``variables``.

        Returns
        -------
        CorData

        Raises
        ------
        DataError
            An unknown construct or a moderator that is not a column of ``studies.csv`` (with the
            closest names).

        Examples
        --------
        >>> import masem
        >>> db = masem.example_data("Nohe15A1").database()
        >>> data = db.cor_data(["W1", "S1", "W2", "S2"], moderators=["Lag"])
        >>> data.k, list(data.moderators.columns)
        (32, ['Lag'])
        """
        names = (
            []
            if moderators is None
            else [moderators]
            if isinstance(moderators, str)
            else list(moderators)
        )
        columns = [c for c in self._studies.columns if c not in ("study_id", "n")]
        unknown = [m for m in names if m not in columns]
        if unknown:
            hints = "".join(
                f" ({hint} for {m!r})" for m in unknown if (hint := did_you_mean(m, columns))
            )
            raise DataError(
                f"moderator(s) {unknown} are not columns of studies.csv{hints}; columns: {columns}"
            )
        # a study without any of these correlations adds nothing to a one-stage likelihood
        m = self.matrices(variables, min_pairs=min_pairs, keep_empty=False)
        rows = self._studies.set_index("study_id").loc[m.study_ids, names].reset_index(drop=True)
        return cor_data(dict(zip(m.study_ids, m.matrices)), m.n, moderators=rows)

    def summary(self) -> pd.DataFrame:
        """One row per construct: studies measuring it (``k``), their total N, alphas reported."""
        pos = self._pos
        M = pos["measured"]
        rel = self._reliabilities
        alpha_k = rel.groupby("variable")["alpha"].count()
        alpha_mean = rel.groupby("variable")["alpha"].mean()
        out = pd.DataFrame({"code": pos["codes"]})
        for col in ("name", "role"):
            if col in self._constructs.columns:
                out[col] = self._constructs[col].to_numpy()
        out["k"] = M.sum(axis=0).astype("int64")
        out["n"] = (M * pos["n"][:, None]).sum(axis=0).astype("int64")
        out["k_alpha"] = out["code"].map(alpha_k).fillna(0).astype("int64")
        out["mean_alpha"] = out["code"].map(alpha_mean).astype(float)
        return out

    def __repr__(self) -> str:
        where = f"folder={self.folder!r}, " if self.folder else ""
        measured = f", measured={len(self._measured)}" if len(self._measured) else ""
        return (
            f"StudyDatabase({where}studies={len(self._studies)}, "
            f"correlations={len(self._correlations)}, "
            f"reliabilities={len(self._reliabilities)}, constructs={len(self._constructs)}"
            f"{measured}{', simulated' if self.simulated else ''})"
        )


def _nonpd_warning(selection: StudySelection) -> str:
    """The warning of matrices() about studies that are not positive definite (API wording)."""
    ids = [sid for sid, _, _ in selection.nonpd]
    return (
        f"not positive definite: {selection.nonpd_text()}. Such correlations cannot come from "
        "one sample; check the rows for a typo (a sign or a swapped digit). tssem1 with "
        "method='REM' uses each correlation of the study, method='FEM' cannot use it; "
        f"db.subset(exclude={ids!r}) leaves it out."
    )


# ----------------------------------------------------------------------------------------------
# Building, reading, writing
# ----------------------------------------------------------------------------------------------
def _build(tables: dict[str, Table], folder: str | None, metadata: dict) -> StudyDatabase:
    con, stu, cor, rel, mea = (tables[k] for k in _KINDS[2:3] + _KINDS[:2] + _KINDS[3:])
    tables_.validate_constructs(con)
    n = tables_.validate_studies(stu)
    codes = list(con.raw["code"])
    ids = list(stu.raw["study_id"])
    r = tables_.validate_correlations(cor, ids, codes)
    alpha = tables_.validate_reliabilities(rel, ids, codes)
    tables_.validate_measured(mea, ids, codes)

    code_index = {c: t for t, c in enumerate(codes)}
    study_index = {s: t for t, s in enumerate(ids)}
    i = cor.raw["var1"].map(code_index).to_numpy(dtype=int)
    j = cor.raw["var2"].map(code_index).to_numpy(dtype=int)
    study = cor.raw["study_id"].map(study_index).to_numpy(dtype=int)
    measured = np.zeros((len(ids), len(codes)), dtype=bool)
    measured[study, i] = True
    measured[study, j] = True
    measured[
        mea.raw["study_id"].map(study_index).to_numpy(dtype=int),
        mea.raw["variable"].map(code_index).to_numpy(dtype=int),
    ] = True
    tables_.check_alphas_measured(rel, measured, study_index, code_index)
    n_measured = measured.sum(axis=1)
    small = np.flatnonzero(n.to_numpy() <= n_measured)
    if len(small):
        t = small[0]
        raise stu.fail(
            stu.raw.index[t],
            f"study '{ids[t]}': n = {n.iloc[t]} does not exceed the {n_measured[t]} variables it "
            "measures, so its correlation matrix cannot be positive definite; check n.",
        )
    cor_numeric = {"r": r}
    if "n" in cor.raw.columns:
        cor_numeric["n"] = tables_.sample_sizes(cor, "n")
    numeric = {"studies": {"n": n}, "correlations": cor_numeric, "reliabilities": {"alpha": alpha}}
    frames = {kind: _finish(tables[kind], numeric.get(kind, {})) for kind in _KINDS}
    pos = {
        "codes": codes,
        "code_index": code_index,
        "study_ids": ids,
        "files": {kind: table.name for kind, table in tables.items()},
        "cor_where": [cor.where(x) for x in cor.raw.index],
        "study": study,
        "i": i,
        "j": j,
        "r": r.to_numpy(dtype=float),
        "n": n.to_numpy(dtype="int64"),
        "n_correlations": np.bincount(study, minlength=len(ids)),
        "measured": measured,
    }
    for key in ("study", "i", "j", "r", "n", "n_correlations", "measured"):
        pos[key] = frozen(pos[key], dtype=None)
    return StudyDatabase(
        frames["studies"],
        frames["correlations"],
        frames["reliabilities"],
        frames["constructs"],
        folder=folder,
        _pos=pos,
        _measured=frames["measured"],
        _metadata=dict(metadata),
    )


def _finish(table: Table, numeric: dict[str, pd.Series]) -> pd.DataFrame:
    """The typed table with its text columns as text and its validated numbers."""
    out = table.typed.copy()
    for col in tables_.TEXT[table.kind]:
        if col in out.columns:
            out[col] = table.raw[col].astype(str)
    for col, values in numeric.items():
        out[col] = values
    return out.reset_index(drop=True)


def read_database(folder: str | Path) -> StudyDatabase:
    """Read and validate a study database folder.

    Parameters
    ----------
    folder : str or pathlib.Path
        A folder with ``studies.csv`` (``study_id``, ``n``, moderators...), ``correlations.csv``
        (``study_id``, ``var1``, ``var2``, ``r``, optional ``n``), ``constructs.csv`` (``code``,
        ``name``, ...), optionally ``reliabilities.csv`` (``study_id``, ``variable``,
        ``alpha``), ``measured.csv`` (``study_id``, ``variable``: constructs a study measured
        beyond those of its correlations) and ``metadata.json``; UTF-8, comma-separated, one
        header row. See ``data/template/README.md``.

    Returns
    -------
    StudyDatabase
        Validated tables (read-only copies via ``.studies``, ``.correlations``,
        ``.reliabilities``, ``.constructs``, ``.measured``), ``.metadata``, and the views
        ``.matrices()`` and ``.pair_counts()``.

    Raises
    ------
    masem.DataError
        For a missing folder, file or column, an empty file, a file that is not UTF-8, a
        study_id with other characters than letters, digits, '_', '-' and '.', an unknown study
        or construct (with the closest known one), a repeated pair, a correlation outside (-1, 1)
        or not a number, a sample size that is not a whole number above 3 (and above the number
        of variables the study measures), a reliability outside (0, 1] or of a construct the
        study did not measure, or a ``metadata.json`` that is not a JSON object. The message
        names the file, line, study, column and value.

    Notes
    -----
    The folder is only read, never written. Line numbers count the header as line 1. A study
    whose correlations are not positive definite is read; :meth:`StudyDatabase.matrices` warns
    about it for the variables of an analysis.

    Examples
    --------
    >>> import masem
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = masem.write_database(masem.example_data("Hunter83").database(), folder)
    ...     db = masem.read_database(folder)
    >>> db.matrices(["Ability", "Supervisor"]).n[:3]
    array([443, 186, 292])
    """
    path = Path(folder)
    if not path.is_dir():
        raise DataError(
            f"{path}: folder not found. Pass the folder that holds studies.csv, correlations.csv "
            "and constructs.csv (for the bundled data: data/individual or data/team)."
        )
    tables = {
        kind: read_table(path / f"{kind}.csv", kind, optional=kind in ("reliabilities", "measured"))
        for kind in _KINDS
    }
    tables = {
        kind: table if table is not None else frame_table(None, kind)
        for kind, table in tables.items()
    }
    return _build(tables, folder=str(path), metadata=read_metadata(path / "metadata.json"))


def _cell_text(series: pd.Series, decimals: int | None) -> list[str]:
    if pd.api.types.is_float_dtype(series) and decimals is not None:
        # Adding 0.0 turns -0.0 into 0.0, so a rounded zero never prints as "-0.000".
        return ["" if np.isnan(v) else f"{round(v, decimals) + 0.0:.{decimals}f}" for v in series]
    return ["" if pd.isna(v) else str(v) for v in series]


def write_database(database: StudyDatabase, folder: str | Path) -> Path:
    """Write a database as UTF-8 CSV files (``\\n`` line ends, fixed decimals) to ``folder``.

    ``r`` and ``alpha`` are written with three decimals; other columns as they are.
    ``measured.csv`` is written when the database lists measured constructs, ``metadata.json``
    when it has metadata. The folder is created when absent; existing files of the same names
    are replaced.

    Parameters
    ----------
    database : StudyDatabase
    folder : str or pathlib.Path

    Returns
    -------
    pathlib.Path
        The folder written.

    Examples
    --------
    >>> import tempfile
    >>> import masem
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_database(masem.example_data("Becker92").database(), folder)
    ...     sorted(p.name for p in path.iterdir())
    ['constructs.csv', 'correlations.csv', 'reliabilities.csv', 'studies.csv']
    """
    if not isinstance(database, StudyDatabase):
        raise DataError(f"database must be a StudyDatabase, got {type(database).__name__}.")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    frames = {
        "studies": database._studies,
        "correlations": database._correlations,
        "reliabilities": database._reliabilities,
        "constructs": database._constructs,
    }
    if len(database._measured):
        frames["measured"] = database._measured
    for kind, frame in frames.items():
        columns = [_cell_text(frame[c], _DECIMALS.get(c)) for c in frame.columns]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(frame.columns)
        writer.writerows(zip(*columns))
        (path / f"{kind}.csv").write_text(buffer.getvalue(), encoding="utf-8", newline="")
    if database.metadata:
        text = json.dumps(dict(database.metadata), indent=2, ensure_ascii=False) + "\n"
        (path / "metadata.json").write_text(text, encoding="utf-8", newline="")
    return path
