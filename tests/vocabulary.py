"""The name map of docs/vocabulary.md, read from its table: the one place the conformance tests take
metafor's and metaSEM's names from.

``metafor("ci_lower")`` is the key under which tests/reference records metafor's ``ci.lb``
(``"ci_lb"``); ``metafor("ci_lower", reference=False)`` is metafor's own name (``"ci.lb"``, as the
reference's ``confint`` block keeps it). ``metasem``, ``semopy`` and ``lavaan`` work alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "vocabulary.md"
COLUMNS = ("masem", "metafor", "metaSEM", "semopy / lavaan", "meaning")

# `name` optionally followed by (semopy), (lavaan) or (reference: `key`); or a bare (reference: `key`).
_ITEM = re.compile(r"`((?:[^`\\]|\\.)+)`(?:\s*\((semopy|lavaan|reference:\s*`([^`]+)`)\))?|\(reference:\s*`([^`]+)`\)")


@dataclass(frozen=True)
class Name:
    """One package's name for a quantity and the key of its value in tests/reference."""

    name: str | None
    reference: str


@dataclass(frozen=True)
class Row:
    masem: tuple[str, ...]
    metafor: Name | None
    metasem: Name | None
    semopy: str | None
    lavaan: str | None
    meaning: str


def _cells(line: str) -> list[str]:
    """The cells of a table row; an escaped pipe (``\\|``) stays inside its cell."""
    parts = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [p.strip().replace("\\|", "|") for p in parts]


def _items(cell: str) -> list[tuple[str | None, str | None, str | None]]:
    """(name, tag, reference key) of each name in a cell."""
    out = []
    for match in _ITEM.finditer(cell.replace("\\|", "|")):
        name, tag, ref, bare = match.groups()
        if bare is not None:
            out.append((None, "reference", bare))
        else:
            out.append((name, tag.split(":")[0] if tag else None, ref))
    return out


def _package(cell: str) -> Name | None:
    items = _items(cell)
    if not items:
        return None
    name, _, ref = items[0]
    return Name(name, ref if ref is not None else re.sub(r"[. ]", "_", name))


def _tagged(cell: str, tag: str) -> str | None:
    return next((name for name, t, _ in _items(cell) if t == tag), None)


def read(doc: Path = DOC) -> list[Row]:
    """The rows of the first table of docs/vocabulary.md whose heading is :data:`COLUMNS`."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and tuple(_cells(line)) == COLUMNS)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        masem, metafor, metasem, other, meaning = _cells(line)
        rows.append(Row(
            masem=tuple(name for name, _, _ in _items(masem)),
            metafor=_package(metafor),
            metasem=_package(metasem),
            semopy=_tagged(other, "semopy"),
            lavaan=_tagged(other, "lavaan"),
            meaning=meaning,
        ))
    return rows


ROWS = read()
_BY_NAME = {name: row for row in ROWS for name in row.masem}


def _row(name: str) -> Row:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the masem column of {DOC.name}; add it to the table") from None


def _pick(package: Name | None, masem_name: str, which: str, reference: bool) -> str:
    if package is None or (not reference and package.name is None):
        raise KeyError(f"docs/vocabulary.md gives no {which} name for masem's {masem_name!r}")
    return package.reference if reference else package.name


def metafor(name: str, reference: bool = True) -> str:
    """metafor's name for masem's ``name``: its key in tests/reference, or metafor's own spelling."""
    return _pick(_row(name).metafor, name, "metafor", reference)


def metasem(name: str, reference: bool = True) -> str:
    """metaSEM's name for masem's ``name``: its key in tests/reference, or metaSEM's own spelling."""
    return _pick(_row(name).metasem, name, "metaSEM", reference)


def semopy(name: str) -> str:
    value = _row(name).semopy
    if value is None:
        raise KeyError(f"docs/vocabulary.md gives no semopy name for masem's {name!r}")
    return value


def lavaan(name: str) -> str:
    value = _row(name).lavaan
    if value is None:
        raise KeyError(f"docs/vocabulary.md gives no lavaan name for masem's {name!r}")
    return value
