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

    out = build_report(folder, tmp_path / "reports" / "report.html", timeout=120)

    page = out.read_text(encoding="utf-8")
    assert "First question" in page and "Second question" in page
    assert 'href="#nb-00-first-ipynb"' in page and "Part one" in page  # table of contents
    assert "42" in page  # outputs come from a fresh execution
    assert "data:image/png;base64," in page  # figures embedded, not linked
    assert "simulated" in page
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
    assert list(table.columns) == ["parameter", "method", "estimate", "lower", "upper"]
    assert set(table["method"]) == {"Wald (delta method)", "profile likelihood", "parametric bootstrap"}
    assert set(table["parameter"]) == {"ab"}
    assert (table["lower"] < table["estimate"]).all() and (table["estimate"] < table["upper"]).all()
    with pytest.raises(ValueError, match="at least one"):
        interval_table()


# ----------------------------------------------------------------------------------------------
# The closing key results
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key():
    from conftest import ROOT
    from masem.report.html import key_results

    return key_results(ROOT)


@pytest.mark.slow
def test_key_results_repeat_what_the_library_computes_on_the_bundled_data(key) -> None:
    import masem
    from conftest import ROOT
    from masem.effects import z_to_r
    from masem.report.tables import format_number

    database = masem.read_database(ROOT / "data" / "individual")
    variables = ["HPWP", "SPS", "LEAD", "WCH", "CSE", "PE", "JS", "OC", "TI", "TP", "SERV", "CSAT"]
    studies = database.matrices(variables)
    with masem.collect_notes():
        stage1 = masem.tssem1(studies.matrices, studies.n, method="REM")
    fit = masem.tssem2(stage1, (ROOT / "models" / "attitudes_to_turnover.lav").read_text()).fit_stats()
    findings = key.summary().set_index("result")["value"]
    assert f"{stage1.n_studies} studies, N = {stage1.total_n:,}" in findings.iloc[1]
    assert findings["Fit of the chosen model (attitudes_to_turnover.lav)"].startswith(
        f"χ²({fit['df']:g}) = {fit['chi2']:.2f}, p < .001"
    )
    pair = masem.effect_sizes(database, "PE", "TP")
    observed = masem.meta(pair["yi"], pair["vi"], method="REML")
    filled = masem.trim_and_fill(observed)
    bias = findings[f"PE-TP (k = {observed.k})"]
    assert f"Egger z = {masem.egger(observed).statistic:.2f}" in bias
    assert f"adds {filled.k0} studies" in bias
    assert f"-> {format_number(float(z_to_r(filled.estimate)), bounded=True)}" in bias
    sections = list(dict.fromkeys(key.summary()["section"]))
    assert sections[:4] == ["Evidence", "Structural model", "Indirect effects (profile-likelihood intervals)",
                            "Publication bias"]
    assert all(meaning for meaning in key.summary()["meaning"])  # every number says what it means


@pytest.mark.slow
def test_key_results_html_says_the_data_are_simulated_and_is_reproducible(key) -> None:
    page = key.to_html()
    assert page.startswith('<section class="masem-key" id="key-results">')
    assert "These results come from simulated data." in page
    assert page.count('<div class="apa-table">') == 2  # model fit and indirect effects, APA style
    assert page == key.to_html()


def test_assemble_report_ends_with_the_key_results_in_the_contents() -> None:
    from masem.report.html import KeyResults, RenderedNotebook, assemble_report

    nb = RenderedNotebook("00_a.ipynb", "A", ("Part",), "<p>body</p>", "")
    closing = KeyResults(findings=(("Evidence", "Studies", "3", "three studies"),), tables=())
    page = assemble_report([nb], "Title", "Sub", closing)
    assert '<a href="#key-results">Key results</a>' in page
    assert page.index("<p>body</p>") < page.index('id="key-results"') < page.index("End of report")
    assert "<td>Studies</td><td>3</td><td>three studies</td>" in page
    assert 'id="key-results"' not in assemble_report([nb], "Title", "Sub")


def test_key_results_need_the_project_folder(tmp_path) -> None:
    from masem.report.html import key_results

    with pytest.raises(FileNotFoundError, match="pass the project folder"):
        key_results(tmp_path)
