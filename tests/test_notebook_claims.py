"""Every number a notebook's text states is printed by a code cell above it.

Question answered, per notebook: does each decimal number (and each count above 20) in its
markdown appear, at the precision the text gives, in the output of an earlier code cell (see
tests/notebook_claims.py for what counts as printed and what is not checked)? A claim no output
backs is either a typo, a number left over from an earlier version of the data, or a number the
notebook should print.

ALLOWED lists the conventional constants the text may name without printing them, each with its
reason. EXCEPTIONS lists, per notebook, the few numbers its text may state that are no result of
its code (a definition, a convention, a made-up example), each with its reason; an exception that
no longer matches any number of its notebook fails test_every_exception_is_still_needed.
AWAITING_REWRITE lists the notebooks still being revised for issue 19 (strict xfail: one that
passes must leave the list).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from notebook_claims import unbacked

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

ALLOWED = frozenset(
    {
        "95",  # the confidence (or prediction) level of an interval, "95%"
        "80",  # Hunter-Schmidt's 80% credibility interval
        "90",  # RMSEA's 90% interval
        "1.96",  # the normal critical value of a 95% Wald interval
        "3.84",  # the chi-square(1) critical value of a likelihood-based interval
        ".05",  # the conventional significance level, and the residual cut-off of issue 19
        ".01",  # significance level
        ".001",  # APA's smallest p reported, "p < .001"
        ".08",  # Hu & Bentler's (1999) SRMR cut-off
        ".06",  # Hu & Bentler's (1999) RMSEA cut-off
        ".95",  # nominal coverage of a 95% interval, and the CFI / TLI cut-off
        "100",  # percent
    }
)

EXCEPTIONS: dict[str, dict[str, str]] = {
    "00_overview": {
        ".10": "glossary: Cohen's (1988) rule of thumb for a small correlation",
        ".30": "glossary: Cohen's (1988) rule of thumb for a medium correlation",
        ".50": "glossary: Cohen's (1988) rule of thumb for a large correlation",
        ".023": "glossary: a made-up p-value showing APA's format",
        ".9": "glossary: a made-up set of correlations that is not positive definite",
        "50": "the codebook's cut-off of the culture label on the individualism score (data/README.md)",
    },
}

AWAITING_REWRITE: set[str] = set()  # every notebook has been revised for issue 19


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="being revised for issue 19"))
        if p.stem in AWAITING_REWRITE
        else p
        for p in NOTEBOOKS
    ],
    ids=lambda p: p.stem,
)
def test_every_stated_number_is_printed(path: Path) -> None:
    excepted = EXCEPTIONS.get(path.stem, {})
    claims = [claim for claim in unbacked(path, ALLOWED) if claim.text.lstrip("-\u2212") not in excepted]
    assert not claims, f"{path.name}: numbers no code output above them prints:\n" + "\n".join(map(str, claims))


@pytest.mark.parametrize("stem", sorted(EXCEPTIONS))
def test_every_exception_is_still_needed(stem: str) -> None:
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    assert path.exists(), f"EXCEPTIONS names {stem}, which is not a notebook"
    stated = {claim.text.lstrip("-\u2212") for claim in unbacked(path, ALLOWED)}
    stale = sorted(set(EXCEPTIONS[stem]) - stated)
    assert not stale, f"{stem}: exceptions no longer needed (the text no longer states them unprinted): {stale}"


def test_the_checker_catches_what_it_should(tmp_path: Path) -> None:
    import json

    cell = lambda kind, text, out=None: (  # noqa: E731
        {"cell_type": kind, "source": text, "metadata": {}}
        | ({"outputs": [{"output_type": "stream", "name": "stdout", "text": out}], "execution_count": 1} if kind == "code" else {})
    )
    notebook = {"cells": [
        cell("markdown", "# 01 A title with 2011 in it"),
        cell("code", "print(r)", "r = 0.3571, k = 142\n"),
        cell("markdown", "The pooled r is .36 from 142 studies (Seibert et al., 2011), `x = 9.99`, 95% CI."),
        cell("markdown", "A stale number .41 and 150 studies."),
        cell("markdown", "Jak, S. (2020). A title. *Psychological Methods*, 25(4),\n430-455.\n\nBut .77 here."),
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    found = [c.text for c in unbacked(path, ALLOWED)]
    assert found == [".41", "150", ".77"]
