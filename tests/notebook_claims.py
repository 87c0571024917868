"""Numbers stated in a notebook's text, checked against what its code cells print.

A student reads a sentence such as "the pooled correlation is .36 (95% CI .33 to .40)" beside the
output it describes. :func:`unbacked` lists the numbers of a notebook's markdown cells that no
code cell above them prints: each decimal number, and each whole number above 20 (counts such as
"142 studies"; smaller whole numbers are mostly written as words and ordinal), compared at the
precision the text gives (``.36`` matches a printed 0.3571; ``55%`` matches 55.1 or 0.551).

Not checked (they are not claims about the outputs): code spans, headings, links, citations with
a year in parentheses, reference-list entries, and the conventional constants a caller passes in ``allowed`` (confidence
levels, critical values, cut-offs), each with its reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

NUMBER = re.compile(r"(?<![\w.])[-\u2212]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\.\d+|\d+)(?![\w])")
_CODE_SPAN = re.compile(r"`[^`]*`")
_HEADING = re.compile(r"^#.*$", flags=re.M)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_CITATION = re.compile(r"\([^()]*\b(?:19|20)\d\d[a-z]?\b[^()]*\)")
_LATEX = re.compile(r"\$[^$]*\$")
# A reference-list entry, from its "(2020)." to the end of the paragraph:
# "Author, A. (2020). Title. *Journal*, 25(4),\n430-455."
_REFERENCE = re.compile(r"\((?:19|20)\d\d[a-z]?\)\..*?(?:\n\s*\n|\Z)", flags=re.S)


@dataclass(frozen=True)
class Claim:
    """A number in a markdown cell that no code output above it prints."""

    cell: int
    text: str
    context: str

    def __str__(self) -> str:
        return f"cell {self.cell}: {self.text!r} in '...{self.context}...'"


def _value(token: str) -> tuple[float, int]:
    """The number a token writes and its decimal places."""
    clean = token.replace("\u2212", "-").replace(",", "")
    places = len(clean.split(".")[1]) if "." in clean else 0
    return float(clean), places


def _printed(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append("".join(output.get("text", "")))
        data = output.get("data", {})
        for kind in ("text/plain", "text/html", "text/markdown"):
            if kind in data:
                parts.append("".join(data[kind]))
    return "\n".join(parts)


def _prose(markdown: str) -> str:
    text = _CODE_SPAN.sub(" ", markdown)
    text = _HEADING.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _LATEX.sub(" ", text)
    text = _REFERENCE.sub(" ", text)
    return _CITATION.sub(" ", text)


def _matches(value: float, places: int, printed: list[float]) -> bool:
    """Printed at the text's precision: the same value, its absolute value, or x100 / /100 (percent)."""
    target = round(abs(value), places)
    for p in printed:
        for candidate in (p, 100.0 * p, p / 100.0):
            if round(abs(candidate), places) == target:
                return True
    return False


def unbacked(path: Path, allowed: frozenset[str] = frozenset()) -> list[Claim]:
    """The numbers of ``path``'s markdown cells that no earlier code output prints."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    printed: list[float] = []
    claims = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            for token in NUMBER.findall(_printed(cell)):
                printed.append(_value(token)[0])
            continue
        if cell["cell_type"] != "markdown":
            continue
        prose = _prose("".join(cell["source"]))
        for match in NUMBER.finditer(prose):
            token = match.group(0)
            value, places = _value(token)
            if token.lstrip("-\u2212") in allowed or (places == 0 and abs(value) <= 20):
                continue
            if not _matches(value, places, printed):
                start, end = max(0, match.start() - 40), min(len(prose), match.end() + 40)
                claims.append(Claim(index, token, " ".join(prose[start:end].split())))
    return claims
