"""Notebook hygiene: does every committed notebook open with a title cell that states its question,
what it reads and writes, and that the data are simulated; and are its committed outputs complete
and clean (every code cell executed, no errors, warnings or stderr) so nbval compares real results?"""

from __future__ import annotations

import nbformat
import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_collection_is_not_empty() -> None:
    assert NOTEBOOKS, "no numbered notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_title_cell_states_question_inputs_outputs_and_simulation(path) -> None:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "first cell must be the title"
    for phrase in ("**Question.**", "**Reads**", "**Writes**"):
        assert phrase in first.source, f"{path.name}: the title cell does not state {phrase}"
    assert "simulated" in first.source.lower(), f"{path.name}: the title cell must say the data are simulated"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_are_complete_and_clean(path) -> None:
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        assert cell.execution_count is not None, f"{path.name} cell {index} was not executed (run make notebooks)"
        for output in cell.outputs:
            assert output.output_type != "error", f"{path.name} cell {index} holds an error"
            assert not (output.output_type == "stream" and output.name == "stderr"), (
                f"{path.name} cell {index} writes to stderr: {output.text[:200]!r}"
            )
