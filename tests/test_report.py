"""The HTML report: does `make report`'s builder execute notebooks without touching them and
produce one self-contained page with a table of contents and embedded figures?"""

from __future__ import annotations

import hashlib

import nbformat
import pytest

from masem.report.html import build_report, find_notebooks


def _write_notebook(path, title: str, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n\nIntro.\n\n## Part one"),
        nbformat.v4.new_code_cell(code),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.slow
def test_report_executes_in_memory_and_embeds_figures(tmp_path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _write_notebook(folder / "00_first.ipynb", "First question", "print(6 * 7)")
    _write_notebook(
        folder / "01_second.ipynb",
        "Second question",
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "from IPython.display import display\nfig, ax = plt.subplots()\nax.plot([1, 2], [3, 4])\ndisplay(fig)",
    )
    (folder / "scratch.ipynb").write_text("not part of the collection", encoding="utf-8")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}

    notice = "<strong>The data are simulated.</strong>"
    out = build_report(folder, tmp_path / "reports" / "report.html", timeout=120, notice=notice)

    page = out.read_text(encoding="utf-8")
    assert "First question" in page and "Second question" in page
    assert 'href="#nb-00-first-ipynb"' in page and "Part one" in page  # table of contents
    assert "42" in page  # outputs come from a fresh execution
    assert "data:image/png;base64," in page  # figures embedded, not linked
    assert notice in page  # the title page carries the caller's notice (the study's: simulated data)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert after == before, "the committed notebooks must not be modified"


def test_find_notebooks_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_notebooks(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no notebooks"):
        find_notebooks(tmp_path)


def test_interval_table_collects_every_method_in_long_format() -> None:
    import numpy as np

    import masem
    from masem.tssem import interval_table

    rho = np.array([[1.0, 0.4, 0.3], [0.4, 1.0, 0.5], [0.3, 0.5, 1.0]])
    stage1 = masem.tssem1([rho] * 5, [200, 150, 300, 250, 180], method="FEM", variables=["x", "m", "y"])
    model = "m ~ a*x\ny ~ b*m + x\nx ~~ 1*x\nab := a*b"
    wald = masem.tssem2(stage1, model)
    profile = masem.tssem2(stage1, model, intervals="profile")
    boot = masem.tssem.indirect(wald, n_boot=200, seed=7, progress=False)
    table = interval_table(wald=wald, profile=profile, bootstrap=boot)
    assert list(table.columns) == ["parameter", "method", "estimate", "ci_lower", "ci_upper"]
    assert set(table["method"]) == {"Wald (delta method)", "profile likelihood", "parametric bootstrap"}
    assert set(table["parameter"]) == {"ab"}
    assert (table["ci_lower"] < table["estimate"]).all() and (table["estimate"] < table["ci_upper"]).all()
    with pytest.raises(ValueError, match="at least one"):
        interval_table()


# ----------------------------------------------------------------------------------------------
# The closing section
# ----------------------------------------------------------------------------------------------


def test_assemble_report_ends_with_the_closing_section_in_the_contents() -> None:
    from masem.report.html import ClosingSection, RenderedNotebook, assemble_report

    nb = RenderedNotebook("00_a.ipynb", "A", ("Part",), "<p>body</p>", "")
    closing = ClosingSection.from_html(
        '<section id="key-results" data-contents-note="computed from the library"><h2>Key results</h2>'
        "<table><tr><td>Studies</td><td>3</td><td>three studies</td></tr></table></section>"
    )
    page = assemble_report([nb], "Title", "Sub", closing)
    assert '<a href="#key-results">Key results</a> <small>(computed from the library)</small>' in page
    assert page.index("<p>body</p>") < page.index('id="key-results"') < page.index("End of report")
    assert "<td>Studies</td><td>3</td><td>three studies</td>" in page
    assert 'id="key-results"' not in assemble_report([nb], "Title", "Sub")


def test_a_closing_section_needs_an_anchor_and_a_heading() -> None:
    from masem.report.html import ClosingSection

    with pytest.raises(ValueError, match="needs an id"):
        ClosingSection.from_html("<section><p>no heading</p></section>")
