"""masem.lavaan_to_ram against lavaan 0.6-14 and metaSEM's lavaan2RAM conversion, case by case.

The expected values are in tests/reference_model_syntax/expected.json (its README gives the R code,
versions and date): 153 model strings - published ones from metaSEM's help pages, Cheung's MASEM
workshops and articles, lavaan's manual and tutorial, and constructed edge cases - each with the
RAM that lavaanify(fixed.x = FALSE, auto.var = TRUE, std.lv = TRUE) + lavaan2RAM gives.

Questions answered:
- test_translation_matches_lavaan2ram: for every model masem accepts, are the observed and latent
  variables (and their order), every free and fixed cell of A and S, its value or start value
  and its label (with lavaan2RAM's notation), the equality groups (cells sharing a label), the
  ':=' definitions and the constraints exactly what lavaan2RAM gives?
- test_refused_with_line_and_remedy: is every model that a correlation structure cannot hold
  (means, thresholds, composites, efa, group vectors, glued names, '<='), or that lavaan itself
  rejects, refused with a ModelError that names the line?
- test_lavaan_warnings_are_never_silent: where lavaan warns (a repeated element ignored, shared
  labels fixed at different values), does masem warn too, and where masem warns, is it one of the
  cases where lavaan loses something the user wrote?
- test_fixture_covers_every_kind_of_case: does the fixture still hold every kind of case these
  tests rely on (otherwise the parametrised tests would silently shrink)?
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

from masem.errors import ConvergenceWarning, ModelError
from masem.model import lavaan_to_ram
from masem.model.ram import _cell_start

FIXTURE = Path(__file__).resolve().parent / "reference_model_syntax" / "expected.json"
CASES = json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]

# Models that a correlation structure cannot hold, or that lavaan itself rejects: masem refuses
# them with a ModelError naming the line (regex of the message).
REFUSED = {
    "T03": r"line 3: .*intercept or mean",  # y ~ 1 (metaSEM's help: a model with means)
    "T28": r"line 2: .*intercept or mean",  # Cheung (2025): meta-analysis as SEM, with means
    "T29": r"line 3: .*intercept or mean",
    "T30": r"line 1: .*intercept or mean",
    "T31": r"line 1: .*intercept or mean",
    "T40": r"line 8: .*intercept or mean",
    "T41": r"line 1: .*group vectors c\(\.\.\.\)",
    "T58": r"line 1: .*formative composites \('<~'\)",
    "T59": r"line 2: .*thresholds \('\|'\)",
    "T60": r"line 1: .*efa\(\) blocks",
    "P03": r"line 1: .*'x1 x2' has no operator.*one name 'x1x2'",
    "P04": r"lines 1-2: .*'x1 x2' has no operator.*one name 'x1x2'",
    "P08": r"line 1: 'y' holds no operator",
    "P09": r"line 1: .*ends with '\+'",
    "P16": r"line 1: .*groups terms in parentheses",
    "P17": r"line 1: .*'-' between terms",
    "P19": r"line 1: .*backticks",
    "P20": r"line 1: .*intercept or mean",
    "P21": r"line 1: .*'if' on the left-hand side is not a valid variable name",
    "P22": r"line 1: .*intercept or mean",
    "P23": r"line 1: .*intercept or mean",
    "P24": r"line 1: .*intercept or mean",
    "P41": r"line 1: .*the modifier 'a\*b' .* holds several names",
    "P45": r"line 1: .*the label 'my lab' holds a space",
    "P49": r"line 2: .*y ~ x is already specified on line 1",
    "P50": r"line 2: .*y ~~ x is already specified on line 1",
    "P52": r"line 2: .*x ~~ x is already specified on line 1",
    "P53": r"line 1: .*interaction term",
    "P57": r"line 4: the constraint 'c == a\*b' uses 'c', which is not a parameter label",
}

# '<=' and '>=': lavaan reads 'b1 <= 1' as 'b1 < =1' and lavaan2RAM stops building the
# constraint; masem reads them as '<' and '>' (the same estimates for a continuous parameter) with
# a note: the expected constraint (lhs, op, rhs) beside the fixture's RAM before the error.
READ_AS_STRICT = {"T47": ("b1", "<", "1"), "P54": ("b1", "<", "1"), "P55": ("b1", ">", "1")}

# lavaan stops on these, masem reads them (deliberately: comments are stripped everywhere and
# Windows line ends are read): what masem gives instead, as (matrix, row, column, text).
LENIENT = {
    "P12": [("A", "y", "x1", "0.1*yONx1"), ("A", "y2", "x2", "0.1*y2ONx2")],  # '!' on the last line
    "P13": [("A", "y", "x1", "0.1*yONx1")],  # '!' comment on the only line
    "P14": [("A", "y", "x", "0.1*yONx")],  # a commented-out last line without a newline
    "P15": [("A", "y", "x1", "0.1*yONx1"), ("S", "y", "y", "0.5*yWITHy")],  # CRLF line ends
}

# equal("...") through lavaan2RAM: the two parameters get different (and OpenMx-illegal)
# labels, so they are NOT equal; masem matches that (with its own automatic names) and warns.
LABELS_DIFFER = {"P47", "E29"}

# lavaan2RAM keeps a trailing '# comment' of the last ':=' line inside the algebra (and OpenMx
# then fails to read it); masem strips the comment.
COMMENT_IN_DEFINITION = {"T48": ("ab", "a*b")}

# Where lavaan (and so metaSEM) loses something the user wrote, masem warns (ConvergenceWarning):
# chained modifiers, std.lv over a label or start, start() over a fixed value, a shared label that
# fixes a free parameter, 'pi' as a label, bounds, repeated terms and elements, equal().
WARNS = {
    "T42", "T45", "T55", "P32", "P37", "P38", "P39", "P40", "P43", "P47", "P48", "P51",
    "E04", "E05", "E06", "E07", "E08", "E09", "E10", "E29", "E31",
}  # fmt: skip


def _ids(cases):
    return [c["id"] for c in cases]


def _parse(case):
    """lavaan_to_ram with the case's lavaan2RAM arguments; (ram, warnings as text)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ram = lavaan_to_ram(
            case["model"],
            case["obs_variables"],
            A_notation=case["A_notation"],
            S_notation=case["S_notation"],
        )
    notes = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(notes) == len(caught), [str(w.message) for w in caught]
    return ram, notes


def _cells(ram) -> dict:
    """(matrix, row, col) -> (fixed?, value or start, label): A, and S with each pair once."""
    out = {}
    for c in ram.cells:
        if c.fixed == 0.0:
            continue  # lavaan2RAM writes a cell fixed at 0 as "0", the same as no cell
        key = (c.matrix, c.row, c.col) if c.matrix == "A" else ("S", *sorted((c.row, c.col)))
        free = c.fixed is None
        out[key] = (not free, c.fixed if not free else _cell_start(c), c.name if free else None)
    return out


def _expected_cells(case) -> dict:
    out = {}
    for matrix in ("A", "S"):
        for cell in case["ram"][matrix]:
            r, c = cell["row"], cell["col"]
            key = (matrix, r, c) if matrix == "A" else ("S", *sorted((r, c)))
            out[key] = (cell["fixed"], cell["value"], None if cell["fixed"] else cell["label"])
    return out


def _groups(cells: dict) -> set[frozenset]:
    """The equality groups: free cells that share a label."""
    by_label: dict[str, set] = {}
    for key, (fixed, _, label) in cells.items():
        if not fixed:
            by_label.setdefault(label, set()).add(key)
    return {frozenset(group) for group in by_label.values()}


ACCEPTED = [
    c
    for c in CASES
    if c["id"] not in REFUSED and c["id"] not in LENIENT and c["id"] not in READ_AS_STRICT
    and c.get("ram") is not None
]


@pytest.mark.parametrize("case", ACCEPTED, ids=_ids(ACCEPTED))
def test_translation_matches_lavaan2ram(case) -> None:
    """Source: each case's model string (its `source`); expected values from lavaan 0.6-14's
    lavaanify and lavaan2RAM's documented conversion (tests/reference_model_syntax/README.md).
    """
    ram, _ = _parse(case)
    expected = case["ram"]
    assert list(ram.observed) == expected["observed"]
    assert list(ram.latent) == expected["latent"]
    ours, theirs = _cells(ram), _expected_cells(case)
    assert set(ours) == set(theirs), "the free and fixed elements differ"
    for key, (fixed, value, label) in theirs.items():
        assert ours[key][0] == fixed, key
        # lavaan2RAM writes values with 15 significant digits; both sides hold the same double.
        assert ours[key][1] == pytest.approx(value, rel=1e-14, abs=0), key
        if case["id"] not in LABELS_DIFFER:
            assert ours[key][2] == label, key
    assert _groups(ours) == _groups(theirs), "the equality groups differ"
    if case["id"] not in LABELS_DIFFER:
        for name in ("A", "S"):
            text = {(c["row"], c["col"]): c["text"] for c in expected[name]}
            matrix = getattr(ram, name)
            for (row, col), value in text.items():
                assert matrix.loc[row, col] == value, (name, row, col)
    definitions = [(a["lhs"], a["rhs"]) for a in expected["mxalgebras"] if a["kind"] == "definition"]
    if case["id"] in COMMENT_IN_DEFINITION:
        definitions = [COMMENT_IN_DEFINITION[case["id"]]]
    assert [(d.name, re.sub(r"\s+", "", d.expression)) for d in ram.definitions] == definitions
    constraints = [
        (a["lhs"], a["op"], a["rhs"]) for a in expected["mxalgebras"] if a["kind"] == "constraint"
    ]
    assert [(c.lhs, c.op, c.rhs) for c in ram.constraints] == constraints


REFUSED_CASES = [c for c in CASES if c["id"] in REFUSED]


@pytest.mark.parametrize("case", REFUSED_CASES, ids=_ids(REFUSED_CASES))
def test_refused_with_line_and_remedy(case) -> None:
    """Source: lavaan ?model.syntax (what each construct means) and issue 16 (what a correlation
    structure cannot hold); lavaan's own errors from the fixture (`error`).
    """
    with pytest.raises(ModelError, match=REFUSED[case["id"]]):
        _parse(case)


@pytest.mark.parametrize("case_id", sorted(READ_AS_STRICT))
def test_non_strict_inequalities_are_read_with_a_note(case_id) -> None:
    """Source: lavaan 0.6-14 executed (the fixture's RAM before lavaan2RAM's error) and issue 16
    ('<=' and '>=' accepted): the elements are lavaan2RAM's, the constraint is the strict one, and
    a note says how lavaan reads the operator.
    """
    case = next(c for c in CASES if c["id"] == case_id)
    ram, notes = _parse(case)
    for cell in case["ram"]["A"] + case["ram"]["S"]:
        matrix = "A" if cell in case["ram"]["A"] else "S"
        assert getattr(ram, matrix).loc[cell["row"], cell["col"]] == cell["text"]
    (constraint,) = ram.constraints
    assert (constraint.lhs, constraint.op, constraint.rhs) == READ_AS_STRICT[case_id]
    assert any("is read as" in note and "lavaan itself does not know" in note for note in notes), notes


@pytest.mark.parametrize("case_id", sorted(LENIENT))
def test_lavaan_errors_that_masem_reads(case_id) -> None:
    """Source: lavaan 0.6-14 executed (the fixture's `error`): a comment on the last line without
    a newline, or Windows line ends, stop lavaan's parser; masem strips comments on every line and
    reads CRLF, as lavaan's documentation describes comments (?model.syntax).
    """
    case = next(c for c in CASES if c["id"] == case_id)
    assert case["error"]
    ram, _ = _parse(case)
    for matrix, row, col, text in LENIENT[case_id]:
        assert getattr(ram, matrix).loc[row, col] == text


@pytest.mark.parametrize("case", ACCEPTED, ids=_ids(ACCEPTED))
def test_lavaan_warnings_are_never_silent(case) -> None:
    """Source: lavaan 0.6-14 executed (the fixture's `lavaan_warnings`); the team's rule that
    nothing lavaan loses is silent (issue 16).
    """
    _, notes = _parse(case)
    if case["lavaan_warnings"]:
        assert notes, "lavaan warns here, masem must too"
    assert bool(notes) == (case["id"] in WARNS), notes


def test_fixture_covers_every_kind_of_case() -> None:
    """The fixture holds published models, refused ones, constraints, definitions, notes."""
    ids = {c["id"] for c in CASES}
    assert len(CASES) == 153 and {f"T{i:02d}" for i in range(1, 61)} <= ids
    assert set(REFUSED) | set(LENIENT) | set(READ_AS_STRICT) | LABELS_DIFFER | set(COMMENT_IN_DEFINITION) <= ids
    assert any(a["kind"] == "constraint" for c in ACCEPTED for a in c["ram"]["mxalgebras"])
    assert any(a["kind"] == "definition" for c in ACCEPTED for a in c["ram"]["mxalgebras"])
    assert any(c["ram"]["latent"] for c in ACCEPTED)
    assert len(ACCEPTED) >= 110
