"""What a database gives an analysis of some variables: per-study matrices, pair counts, and the
record of which studies were kept or left out and why.

:meth:`masem.StudyDatabase.matrices` returns a :class:`StudyMatrices`; its ``selection``
(:class:`StudySelection`) says every decision taken on the way, and its :meth:`report` is the
block that ``masem validate`` and ``masem run`` print: the studies kept (those without any
correlation included, as metaSEM counts them), the studies left out and why, the correlations
missing (and which of them a study measured both constructs of), and the studies whose
correlations are not positive definite.

References
----------
Cheung, M. W.-L. (2015). *Meta-Analysis: A Structural Equation Modeling Approach*. Wiley.
(Sec. 6.3: a missing correlation as a missing value, and a variable a study did not measure.)
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

__all__ = ["PairCounts", "StudyMatrices", "StudySelection"]

# Smallest eigenvalue below which a study's matrix counts as not positive definite: anything
# smaller is numerically singular for the Olkin-Siotani and ML computations downstream.
PD_TOL = 1e-8
_WIDTH = 100  # characters per line of the report
_LISTED = 10  # study ids listed before "and N more"
# Why a study is left out of an analysis (StudySelection.dropped): "<k> studies with <reason>".
OTHER_CONSTRUCTS = "no correlation among these variables (only with other constructs)"
FEW_PAIRS = "fewer correlations among these variables than min_pairs"
EMPTY_ELSEWHERE = "no correlation and only other constructs measured (measured.csv)"
EMPTY_REFUSED = "no correlation (keep_empty=False)"


@dataclass(frozen=True)
class StudySelection:
    """The decisions behind a :class:`StudyMatrices`: studies kept and left out, missing
    correlations, studies that are not positive definite.

    Attributes
    ----------
    variables : tuple of str
        The variables of the analysis.
    n_database : int
        Studies in the database.
    kept : tuple of str
        The study ids kept, in ``studies.csv`` order.
    total_n : int
        Their total sample size.
    without_correlations : tuple of str
        Kept studies that report no correlation among the variables: they still count in the
        total N and in the typical within-study variance of I2, as metaSEM counts a study whose
        matrix holds no correlation.
    dropped : tuple of (str, str)
        (study id, reason) for every study left out.
    cells_reported, cells_possible : int
        Correlations the kept studies report among the variables, and kept studies x pairs.
    unreported : tuple of (str, str, str)
        (study id, var1, var2): the study reports correlations of both variables but not this one
        ("measured, correlation not reported": fixed-effects pooling cannot use the study).
    nonpd : tuple of (str, float, tuple of str)
        (study id, smallest eigenvalue, variables) of every kept study whose reported
        correlations cannot come from one sample (the complete block of its variables, or a
        complete triple of them when some correlations are missing).
    where : mapping of str to str
        Study id -> where its correlations among the variables are (``file, lines 2-7``).
    """

    variables: tuple[str, ...]
    n_database: int
    kept: tuple[str, ...]
    total_n: int
    without_correlations: tuple[str, ...] = ()
    dropped: tuple[tuple[str, str], ...] = ()
    cells_reported: int = 0
    cells_possible: int = 0
    unreported: tuple[tuple[str, str, str], ...] = ()
    nonpd: tuple[tuple[str, float, tuple[str, ...]], ...] = ()
    where: Mapping[str, str] = field(default_factory=dict, repr=False)

    def nonpd_text(self) -> str:
        """The studies that are not positive definite, each with its eigenvalue and rows."""
        return "; ".join(
            f"{sid} ({', '.join(names)}: smallest eigenvalue {value:.4g}; "
            f"{self.where.get(sid, '')})"
            for sid, value, names in self.nonpd
        )

    def unreported_studies(self) -> list[str]:
        """The ids of the studies with a correlation not reported between two measured variables."""
        return list(dict.fromkeys(sid for sid, _, _ in self.unreported))

    def unreported_text(self) -> str:
        """Each such study with its missing pairs: ``EX03 (HPWP-TP)``."""
        pairs: dict[str, list[str]] = {}
        for sid, a, b in self.unreported:
            pairs.setdefault(sid, []).append(f"{a}-{b}")
        return "; ".join(f"{sid} ({', '.join(p)})" for sid, p in pairs.items())

    def lines(self) -> list[str]:
        """The report as (unwrapped) lines: a heading, then kept, dropped, cells and non-PD."""
        kept = f"{len(self.kept):,} of {self.n_database:,} studies, N = {self.total_n:,}"
        if self.without_correlations:
            kept += (
                f"; {_count(len(self.without_correlations), 'study')} without any correlation "
                f"among these variables ({_ids(self.without_correlations)}): kept and counted in "
                "N and in the typical within-study variance of I2, as metaSEM counts "
                f"{'it' if len(self.without_correlations) == 1 else 'them'}"
            )
        dropped = [
            f"{_count(len(ids), 'study')} with {reason}: {_ids(ids)}"
            for reason, ids in _group(self.dropped).items()
        ]
        missing = self.cells_possible - self.cells_reported
        cells = (
            f"{self.cells_reported:,} of {self.cells_possible:,} study-by-pair correlations "
            f"reported ({_percent(self.cells_reported, self.cells_possible)}), {missing:,} missing"
        )
        if self.unreported:
            cells += (
                f"; {_count(len(self.unreported), 'correlation')} not reported between two "
                f"constructs the study measured: {self.unreported_text()} (fixed-effects "
                "pooling cannot use such a study)"
            )
        nonpd = (
            f"{_count(len(self.nonpd), 'study')} whose correlations cannot come from one sample: "
            f"{self.nonpd_text()}"
            if self.nonpd
            else "none"
        )
        return [
            f"studies for {', '.join(self.variables)}:",
            f"  kept:      {kept}",
            f"  dropped:   {'; '.join(dropped) if dropped else 'none'}",
            f"  missing:   {cells}",
            f"  not positive definite: {nonpd}",
        ]

    def report(self, extra: Sequence[str] = ()) -> str:
        """The block ``masem validate`` and ``masem run`` print, wrapped at 100 characters.

        Parameters
        ----------
        extra : sequence of str
            Further lines (``"  label:  text"``) inserted after the line of the kept studies.

        Returns
        -------
        str
        """
        lines = self.lines()
        lines[2:2] = list(extra)
        return "\n".join(textwrap.fill(line, _WIDTH, subsequent_indent=" " * 13) for line in lines)


def _count(k: int, noun: str) -> str:
    return f"{k:,} {noun if k == 1 else ('studies' if noun == 'study' else noun + 's')}"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_LISTED])
    return shown if len(ids) <= _LISTED else f"{shown} and {len(ids) - _LISTED} more"


def _group(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for sid, reason in pairs:
        out.setdefault(reason, []).append(sid)
    return out


def span(name: str, wheres: Sequence[str]) -> str:
    """``file, lines 2-7, 19`` from the ``line N`` (or ``row N``) places of some rows of a
    table.
    """
    if not wheres:
        return f"{name}, no rows"
    unit = wheres[0].split(" ", 1)[0]
    numbers = [int(m.group(1)) for w in wheres if (m := re.fullmatch(r"\w+ (-?\d+)", w))]
    if len(numbers) != len(wheres):  # frame rows with text labels: list them as they are
        return f"{name}, {unit}s {', '.join(w.split(' ', 1)[1] for w in wheres)}"
    numbers.sort()
    runs, start = [], numbers[0]
    for previous, current in zip(numbers, numbers[1:] + [None]):
        if current != previous + 1:
            runs.append(str(start) if start == previous else f"{start}-{previous}")
            start = current
    plural = "s" if len(numbers) > 1 else ""
    return f"{name}, {unit}{plural} {', '.join(runs)}"


def smallest_eigenvalue(block: np.ndarray) -> tuple[float, list[int]] | None:
    """Smallest eigenvalue of a study's correlations and the variables it concerns.

    The whole block when it is complete; with missing cells, the smallest over its complete
    3 x 3 principal submatrices (every principal submatrix of a positive definite matrix is
    positive definite, so one that is not betrays the whole). None when nothing can be checked.
    """
    m = block.shape[0]
    if m < 2:
        return None
    if not np.isnan(block).any():
        return float(np.linalg.eigvalsh(block)[0]), list(range(m))
    if m < 3:
        return None
    trios = np.array(list(combinations(range(m), 3)))
    blocks = block[trios[:, :, None], trios[:, None, :]]
    full = ~np.isnan(blocks).any(axis=(1, 2))
    if not full.any():
        return None
    values = np.linalg.eigvalsh(blocks[full])[:, 0]
    t = int(np.argmin(values))
    return float(values[t]), [int(v) for v in trios[full][t]]


@dataclass(frozen=True)
class StudyMatrices:
    """Per-study correlation matrices for a chosen set of variables (see
    :meth:`StudyDatabase.matrices`).

    Attributes
    ----------
    variables : list of str
        The requested variables, in the requested order.
    matrices : list of pandas.DataFrame
        One p x p matrix per kept study; NaN for an unreported cell, a unit diagonal for a
        measured variable and a NaN diagonal for one the study did not measure.
    n : numpy.ndarray of int
        Sample sizes (from ``studies.csv``), read-only.
    study_ids : list of str
        The kept studies, in the order of ``studies.csv``.
    corrected : bool
        True when the correlations are corrected for unreliability (see
        :meth:`StudyDatabase.matrices`).
    selection : StudySelection or None
        The decisions behind the matrices (None when built by hand); :meth:`report` prints them.
    """

    variables: list[str]
    matrices: list[pd.DataFrame]
    n: np.ndarray
    study_ids: list[str]
    corrected: bool = False
    selection: StudySelection | None = field(default=None, repr=False)

    def summary(self) -> pd.DataFrame:
        """One row per study: ``study_id``, ``n``, variables measured and correlations reported."""
        measured = [int(np.sum(np.diag(m.to_numpy()) == 1)) for m in self.matrices]
        pairs = [
            int(np.sum(~np.isnan(m.to_numpy())) - k) // 2 for m, k in zip(self.matrices, measured)
        ]
        return pd.DataFrame(
            {"study_id": self.study_ids, "n": self.n, "measured": measured, "pairs": pairs}
        )

    def report(self) -> str:
        """The studies kept and left out, with the reasons, the missing correlations and the
        studies that are not positive definite (:meth:`StudySelection.report`).

        Returns
        -------
        str
            The block ``masem validate`` and ``masem run`` print ("" without a selection).

        Examples
        --------
        >>> import masem
        >>> db = masem.example_data("Hunter83").database()
        >>> print(db.matrices(["Ability", "Job_knowledge", "Supervisor"]).report())
        studies for Ability, Job_knowledge, Supervisor:
          kept:      14 of 14 studies, N = 3,975
          dropped:   none
          missing:   34 of 42 study-by-pair correlations reported (81%), 8 missing
          not positive definite: none
        """
        return "" if self.selection is None else self.selection.report()

    def __repr__(self) -> str:
        return (
            f"StudyMatrices(variables={self.variables}, studies={len(self.study_ids)}, "
            f"total_n={int(self.n.sum())}"
            f"{', corrected for unreliability' if self.corrected else ''})"
        )


@dataclass(frozen=True)
class PairCounts:
    """How many studies (``k``) and participants (``n``) inform each pair of variables.

    The diagonal holds the number of studies that measure the variable and their total N.

    Attributes
    ----------
    k : pandas.DataFrame
        Studies per pair, variables x variables.
    n : pandas.DataFrame
        Total sample size per pair, variables x variables.
    """

    k: pd.DataFrame
    n: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """One row per pair (codebook order of the requested variables): var1, var2, k, n."""
        names = list(self.k.index)
        a, b = np.triu_indices(len(names), k=1)
        return pd.DataFrame(
            {
                "var1": [names[x] for x in a],
                "var2": [names[y] for y in b],
                "k": self.k.to_numpy()[a, b],
                "n": self.n.to_numpy()[a, b],
            }
        )

    def __repr__(self) -> str:
        off = self.k.to_numpy()[np.triu_indices(len(self.k), k=1)]
        return (
            f"PairCounts(variables={len(self.k)}, pairs={off.size}, "
            f"k_min={int(off.min()) if off.size else 0}, k_max={int(off.max()) if off.size else 0})"
        )
