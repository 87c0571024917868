"""Code a published MASEM data set into the study-database format: Hunter (1983), as a worked
example of the CSV route (``data/examples/hunter83/``).

Hunter (1983) collected fourteen studies of cognitive ability, job knowledge, work-sample
performance and supervisor ratings of performance; four report only some of the four variables.
The correlation matrices are the published ones as distributed with metaSEM (data set
``Hunter83``), read from the project's reference copy ``tests/reference/data/Hunter83.json``,
which records the source. This script writes them the way a researcher would code them by hand:

    data/examples/hunter83/constructs.csv     the four variables, one row each
    data/examples/hunter83/studies.csv        one row per sample: H01 ... H14, the published
                                              study name as label, n
    data/examples/hunter83/correlations.csv   one row per reported correlation
    data/examples/hunter83/metadata.json      the source (the data are not simulated)
    data/examples/hunter83/model.lav          the path model of metaSEM's Hunter83 example

A variable a study did not measure (metaSEM: a missing diagonal) simply has no rows; a study
measures the variables of its correlations (every study here reports all correlations among the
variables it measured, so no measured.csv is needed). Run it again to get the same bytes:

    .venv/bin/python scripts/code_hunter83.py [--out data/examples/hunter83]

References
----------
Hunter, J. E. (1983). A causal analysis of cognitive ability, job knowledge, job performance, and
supervisor ratings. In F. Landy, S. Zedeck, & J. Cleveland (Eds.), *Performance Measurement and
Theory* (pp. 257-266). Erlbaum.
Cheung, M. W.-L. (2015). metaSEM: An R package for meta-analysis using structural equation
modeling. *Frontiers in Psychology*, 5, 1521 (the data set Hunter83 and its example model).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from masem.data import StudyDatabase, write_database

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "reference" / "data" / "Hunter83.json"
NAMES = {
    "Ability": "Cognitive ability",
    "Job_knowledge": "Job knowledge",
    "Work_sample": "Work-sample performance",
    "Supervisor": "Supervisor rating of job performance",
}
# The model of metaSEM's Hunter83 example (tssem2 with its indirect effect), as the reference
# expected values (tests/reference/expected/metasem/Hunter83.json) record it.
MODEL = """\
# title: Hunter (1983): ability, job knowledge and performance
# Ability acts on supervisor ratings only through job knowledge and work-sample performance
# (Hunter, 1983; metaSEM's Hunter83 example). 6 correlations - 5 paths = 1 degree of freedom.
Job_knowledge ~ A2J*Ability
Work_sample ~ A2W*Ability + J2W*Job_knowledge
Supervisor ~ J2S*Job_knowledge + W2S*Work_sample
# the exogenous variable has unit variance (a correlation matrix is analysed)
Ability ~~ 1*Ability
# the indirect effect of ability on supervisor ratings, summed over its three routes
ind := A2J*J2S + A2J*J2W*W2S + A2W*W2S
"""


def coded(source: dict) -> StudyDatabase:
    """The published matrices as a validated study database (one row per reported r)."""
    variables = source["variables"]
    ids = [f"H{i + 1:02d}" for i in range(len(source["matrices"]))]
    studies = pd.DataFrame({"study_id": ids, "label": source["studies"], "n": source["n"]})
    rows = []
    for sid, matrix in zip(ids, source["matrices"]):
        for a in range(len(variables)):
            for b in range(a + 1, len(variables)):
                if matrix[a][b] is not None:
                    rows.append((sid, variables[a], variables[b], matrix[a][b]))
    correlations = pd.DataFrame(rows, columns=["study_id", "var1", "var2", "r"])
    constructs = pd.DataFrame({"code": variables, "name": [NAMES[v] for v in variables]})
    metadata = {
        "simulated": False,
        "source": f"Hunter (1983), the correlation matrices of metaSEM's data set {source['name']}",
        "reference": source["source"],
        "coded_by": "scripts/code_hunter83.py",
    }
    return StudyDatabase.from_frames(studies, correlations, constructs, metadata=metadata)


def main(argv: list[str] | None = None) -> int:
    """Write the coded data set and its model; the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "examples" / "hunter83")
    args = parser.parse_args(argv)
    database = coded(json.loads(SOURCE.read_text(encoding="utf-8")))
    write_database(database, args.out)
    (args.out / "model.lav").write_text(MODEL, encoding="utf-8", newline="\n")
    print(f"{database!r} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
