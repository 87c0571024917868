"""What ``masem run`` writes can go into a manuscript as it is (masem.cli).

Questions answered, one per test:
- Does a saturated model (df = 0) get APA's wording: "saturated model", no p-value, RMSEA and TLI
  "not defined (df = 0)" in summary.txt, a dash in the tables, an empty value with its reason in
  stage2_fit.csv, and never "nan" or "p < .001" in any text output?
- Do table titles and the diagram's caption carry the model's name: its ``# title:`` line, else
  the file name without extension and without Markdown escapes?
- Do the table notes match the tables (no "Var = variance" without a variance row)?
- Is the path diagram written as Graphviz source, PNG at 300 dpi (tagged), SVG and PDF, with the
  model's residual covariance drawn (a dashed arc) and a caption that keys exactly what is drawn?
- Do the outputs say "simulated" for the bundled simulated database (from its metadata.json), and
  never for a folder of one's own, which gets its metadata's source instead when it has one?
"""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import pandas as pd
import pytest

from masem.cli import main

from conftest import ROOT

TEMPLATE = ROOT / "data" / "template"
MODEL = TEMPLATE / "model.lav"
TEXT_OUTPUTS = ("*.md", "*.txt", "*.gv", "*.csv")


def _run(tmp_path: Path, data: Path, model: Path, capsys, *extra: str) -> tuple[Path, str]:
    out = tmp_path / "out"
    assert main(["run", "--data", str(data), "--model", str(model), "--out", str(out), "--no-progress",
                 *extra]) == 0
    return out, capsys.readouterr().out


def _texts(out: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for pattern in TEXT_OUTPUTS for p in out.glob(pattern)}


def test_a_saturated_model_is_reported_the_apa_way(tmp_path, capsys) -> None:
    model = tmp_path / "model2a_indirect_exact.lav"  # no title line: the file name names it
    model.write_text(MODEL.read_text(encoding="utf-8").replace("# title:", "# (was a title)")
                     .replace("TP ~ c*PE", "TP ~ c*PE + HPWP"), encoding="utf-8")
    out, printed = _run(tmp_path, TEMPLATE, model, capsys)
    assert ("stage 2: saturated model (df = 0): chi2 = 0.00 with no test of fit (no p-value), "
            "SRMR = 0.000, CFI = 1.000; RMSEA and TLI not defined (df = 0)") in " ".join(printed.split())
    for name, text in _texts(out).items():
        assert not re.search(r"\bnan\b", text, re.IGNORECASE), name
    assert "chi2(0)" not in printed and "p < .001" not in printed.split("stage 2:")[1].split("defined")[0]
    fit_md = (out / "stage2_fit.md").read_text(encoding="utf-8")
    row = [c.strip() for c in fit_md.split("\n| model2a_indirect_exact ")[1].split("\n")[0].split("|")]
    # After the model: χ², df, p, RMSEA, its CI, SRMR, CFI, TLI, AIC, BIC.
    assert row[1:9] == ["0.00", "0", "—", "—", "—", "0.000", "1.000", "—"]
    assert "The model is saturated (df = 0)" in fit_md
    fit_csv = pd.read_csv(out / "stage2_fit.csv").set_index("statistic")
    for name in ("p_value", "RMSEA", "TLI"):
        assert pd.isna(fit_csv.loc[name, "value"]) and fit_csv.loc[name, "note"] == "not defined (df = 0: saturated model)"
    assert fit_csv.loc["chi2", "value"] == pytest.approx(0, abs=1e-8)  # 1e-8: the WLS minimum of a saturated fit
    # The name without a title line: the file stem, as typed, in every title and the caption.
    assert "*Fit of model2a_indirect_exact*" in fit_md and ".lav" not in fit_md
    assert "model2a\\_" not in "".join(_texts(out).values())
    assert "model2a_indirect_exact: standardized estimates" in (out / "path_diagram.gv").read_text(encoding="utf-8")


def test_titles_notes_and_diagram_of_the_template_model(tmp_path, capsys) -> None:
    out, printed = _run(tmp_path, TEMPLATE, MODEL, capsys)
    title = "Empowerment as mediator (example model)"
    assert f"masem run: {MODEL} ({title}) on {TEMPLATE}" in " ".join(printed.split())
    texts = _texts(out)
    assert f"*Parameter estimates of {title}*" in texts["stage2_parameters.md"]
    assert f"*Fit of {title}*" in texts["stage2_fit.md"]
    assert f"*Pooled correlations of the variables of {title}*" in texts["stage1_summary.md"]
    note = texts["stage2_parameters.md"].split("*Note.*")[1]
    assert "→ = regression path, ↔ = covariance." in note and "Var" not in note  # no variance row
    # The diagram: the residual covariance JS ~~ TP is a dashed arc on the outcomes' side.
    source = texts["path_diagram.gv"]
    assert re.search(r"JS -> TP \[[^\]]*headport=e[^\]]*style=dashed", source)
    assert f"{title}: standardized estimates" in source
    assert "Thick dark arrows: p &lt; .05; thin grey arrows: p ≥ .05;" in source
    assert "dashed two-headed arrows: covariances of the residuals of dependent variables." in source
    assert "HPWP = High-performance managerial practices" in source and "bold" not in source
    if shutil.which("dot"):
        png = (out / "path_diagram.png").read_bytes()
        at = png.index(b"pHYs")
        assert struct.unpack(">IIB", png[at + 4: at + 13]) == (11811, 11811, 1)  # 300 dpi
        assert (out / "path_diagram.pdf").read_bytes()[:5] == b"%PDF-"
        assert b"<svg" in (out / "path_diagram.svg").read_bytes()
    # A folder of one's own is not simulated, and its outputs never say so.
    assert not any("simulated" in text.lower() for text in texts.values())


def test_the_bundled_database_is_labelled_simulated_from_its_metadata(tmp_path, capsys) -> None:
    out, printed = _run(tmp_path, ROOT / "data" / "individual", MODEL, capsys)
    assert "  data: simulated studies (masem.simulate_database, seed 2011)" in printed
    texts = _texts(out)
    for name in ("stage1_pooled.md", "stage1_summary.md", "stage2_parameters.md", "stage2_fit.md"):
        assert "Data: simulated studies (masem.simulate_database, seed 2011)." in texts[name], name
    assert "standardized estimates (simulated studies)" in texts["path_diagram.gv"]


def test_a_users_metadata_source_reaches_the_notes(tmp_path, capsys) -> None:
    folder = tmp_path / "mine"
    shutil.copytree(TEMPLATE, folder)
    (folder / "metadata.json").write_text('{"source": "studies coded by A. B. (2026)"}', encoding="utf-8")
    out, printed = _run(tmp_path, folder, MODEL, capsys)
    assert "  data: studies coded by A. B. (2026)" in printed
    assert "Data: studies coded by A. B. (2026)." in (out / "stage2_fit.md").read_text(encoding="utf-8")
    assert "simulated" not in printed
