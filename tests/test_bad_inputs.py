"""The bad-input corpus: does every public function refuse impossible input clearly, and leave it alone?

One parametrised case per kind of mistake a researcher makes when hand-coding studies or calling the
library (issue 7): correlations outside [-1, 1], asymmetric matrices, diagonals that are not 1, wrong
shapes, strings among numbers, NaN / non-positive / too-small sample sizes, lists of different
lengths, duplicated variable names, a pair or variable no study observed, a single or no study, a
matrix that is not positive definite, unknown methods and options, lavaan syntax errors, model
variables absent from the data, non-identified models, a label on a computed error variance,
code in a ``:=`` definition, bad sampling variances, and CSV folders that are missing, empty, in the
wrong encoding or with a wrong header.

Each case asserts three things:
- the exception is a ``ValueError`` subclass from masem (``DataError`` / ``ModelError``) or the
  natural built-in, never an ``IndexError``, ``LinAlgError``, ``ZeroDivisionError`` or a numpy
  warning turned error;
- its message names the offending study / variable / option and the value (the listed fragments);
- the inputs are unchanged afterwards (compared with deep copies taken before the call).

The CSV loader has a larger corpus of its own in ``test_data.py`` (59 cases with file, line, study
and column); a handful of file-level cases are repeated here so that this module covers every entry
point. ``test_corpus_is_large_and_covers_every_entry_point`` guards the size and the coverage.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import masem

R1 = np.array([[1, 0.5, 0.3], [0.5, 1, 0.2], [0.3, 0.2, 1]])
R2 = np.array([[1, 0.4, 0.35], [0.4, 1, 0.25], [0.35, 0.25, 1]])
R3 = np.array([[1, 0.45, 0.3], [0.45, 1, 0.3], [0.3, 0.3, 1]])
N3 = [100, 120, 150]
MODEL = "c ~ a + b\na ~~ b\na ~~ 1*a\nb ~~ 1*b"
YI = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
VI = np.array([0.01, 0.02, 0.015, 0.01, 0.012])


def with_cell(matrix: np.ndarray, i: int, j: int, value: object, symmetric: bool = True) -> np.ndarray:
    out = matrix.astype(object if isinstance(value, str) else float)
    out[i, j] = value
    if symmetric:
        out[j, i] = value
    return out


def hide(matrix: np.ndarray, cells: list[tuple[int, int]]) -> np.ndarray:
    out = matrix.copy()
    for i, j in cells:
        out[i, j] = out[j, i] = np.nan
    return out


@dataclass(frozen=True)
class Case:
    """A call ``entry(*args, **kwargs)`` that must raise ``error`` with every fragment in its message."""

    entry: str
    args: tuple
    error: type[Exception]
    fragments: tuple[str, ...]
    kwargs: dict = field(default_factory=dict)


def _stage1() -> masem.TSSEM1Result:
    with masem.collect_notes():
        return masem.tssem1([R1, R2, R3], N3, variables=["a", "b", "c"])


def _stage2() -> masem.TSSEM2Result:
    return masem.tssem2(_stage1(), MODEL)


BUNDLED_VARIABLES = ["LEAD", "PE", "JS"]
BUNDLED_MODEL = "JS ~ PE\nPE ~ LEAD"


@functools.cache
def _individual() -> masem.StudyDatabase:
    return masem.read_database(ROOT / "data" / "individual")


@functools.cache
def _subgroups() -> masem.SubgroupTSSEM1Result:
    with masem.collect_notes():
        return masem.subgroup_tssem(_individual(), BUNDLED_VARIABLES, by="industry")


BECKER_MODEL = "Math ~ Spatial + Verbal\nSpatial ~~ Verbal\nSpatial ~~ 1*Spatial\nVerbal ~~ 1*Verbal"


def _cordata(lag: list) -> masem.CorData:
    ex = masem.example_data("Becker92")
    return masem.cor_data(ex.matrices, ex.n, moderators=pd.DataFrame({"lag": lag}))


@functools.cache
def _osmasem(moderated: bool) -> masem.OSMASEMResult:
    with masem.collect_notes():
        data = _cordata([0.5, -1.0, 0.2, 1.3, -0.4, -0.6])
        return masem.osmasem(data, BECKER_MODEL, moderators="lag" if moderated else None)


FITTED: dict[str, Callable[[], object]] = {
    "cordata": lambda: _cordata([0.5, -1.0, 0.2, 1.3, -0.4, -0.6]),
    "cordata constant": lambda: _cordata([2.0] * 6),
    "cordata missing": lambda: _cordata([0.5, np.nan, 0.2, 1.3, -0.4, -0.6]),
    "cordata text": lambda: _cordata([0.5, "two", 0.2, 1.3, -0.4, -0.6]),
    "osmasem fit": lambda: _osmasem(False),
    "osmasem fit moderated": lambda: _osmasem(True),
    "stage1": _stage1,
    "stage2": _stage2,
    "meta": lambda: masem.meta(YI, VI),
    "meta2": lambda: masem.meta(YI[:2], VI[:2], method="FE"),
    "apa": lambda: masem.apa_stage1(_stage1()),
    "individual database": _individual,
    "study matrices": lambda: _individual().matrices(BUNDLED_VARIABLES),
    "subgroups": _subgroups,
    "multigroup": lambda: masem.tssem2_multigroup(_subgroups(), BUNDLED_MODEL),
    "population": lambda: masem.read_population(ROOT / "data" / "population", "individual"),
    "population without moderators": lambda: masem.read_population(
        ROOT / "data" / "population", "individual"
    ).without_moderators(),
}

D, M = masem.DataError, masem.ModelError
NONPD = np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]])

CASES: dict[str, Case] = {
    # --- stage 1: the matrices -------------------------------------------------------------------
    "tssem1 r above 1": Case("tssem1", ([with_cell(R1, 0, 1, 1.5), R2, R3], N3), D, ("matrices[0]", "1.5", "[-1, 1]")),
    "tssem1 not symmetric": Case("tssem1", ([with_cell(R1, 0, 1, 0.1, symmetric=False), R2, R3], N3), D, ("matrices[0]", "not symmetric", "0.1")),
    "tssem1 diagonal not 1": Case("tssem1", ([with_cell(R1, 0, 0, 2.0), R2, R3], N3), D, ("matrices[0]", "diagonal", "2.0")),
    "tssem1 wrong shape": Case("tssem1", ([R1, np.eye(4), R3], N3), D, ("matrices[1]", "3 x 3", "(4, 4)")),
    "tssem1 string in matrix": Case("tssem1", ([with_cell(R1, 0, 1, "a"), R2, R3], N3), D, ("matrices[0]", "numeric", "'a'")),
    "tssem1 NaN sample size": Case("tssem1", ([R1, R2, R3], [100, np.nan, 150]), D, ("n[1]", "nan")),
    "tssem1 zero sample size": Case("tssem1", ([R1, R2, R3], [100, 0, 150]), D, ("n[1]", "0")),
    "tssem1 n not above the variables": Case("tssem1", ([R1, R2, R3], [100, 3, 150]), D, ("n[1]", "3", "variables")),
    "tssem1 lists of different lengths": Case("tssem1", ([R1, R2, R3], [100, 120]), D, ("expected 3 sample sizes", "(2,)")),
    "tssem1 duplicated variable names": Case("tssem1", ([R1, R2, R3], N3), D, ("unique", "'a'"), {"variables": ["a", "a", "b"]}),
    "tssem1 variables of the wrong length": Case("tssem1", ([R1, R2, R3], N3), D, ("matrices[0]", "2 x 2"), {"variables": ["a", "b"]}),
    "tssem1 pair no study observed": Case("tssem1", ([hide(R, [(0, 2)]) for R in (R1, R2, R3)], N3), D, ("x3_x1", "no study reports")),
    "tssem1 variable no study observed": Case("tssem1", ([hide(R, [(0, 2), (1, 2)]) for R in (R1, R2, R3)], N3), D, ("x3_x1", "x3_x2")),
    "tssem1 a single study": Case("tssem1", ([R1], [100]), D, ("at least 2 studies", "got 1")),
    "tssem1 no study": Case("tssem1", ([], []), D, ("at least 2 studies", "got 0")),
    "tssem1 FEM with a non-positive-definite study": Case("tssem1", ([NONPD, R2, R3], N3), D, ("matrices[0]", "positive definite", "REM"), {"method": "FEM"}),
    "example_data unknown name": Case("example_data", ("Becker", ), D, ("'Becker'", "Becker92", "Hunter83")),
    # --- one-stage MASEM -----------------------------------------------------------------------------
    "cor_data moderators of the wrong length": Case("cor_data", ([R1, R2, R3], N3), D, ("2 rows", "3 studies"), {"moderators": pd.DataFrame({"x": [1.0, 2.0]})}),
    "cor_data moderators not a table": Case("cor_data", ([R1, R2, R3], N3), D, ("DataFrame", "list"), {"moderators": [1.0, 2.0, 3.0]}),
    "osmasem on raw matrices": Case("osmasem", ([R1, R2, R3], MODEL), D, ("cor_data()", "list")),
    "osmasem unknown moderator": Case("osmasem", ("cordata", BECKER_MODEL), D, ("'Lag'", "did you mean 'lag'"), {"moderators": ["Lag"]}),
    "osmasem constant moderator": Case("osmasem", ("cordata constant", BECKER_MODEL), D, ("'lag'", "same value (2)", "6 studies"), {"moderators": "lag"}),
    "osmasem missing moderator value": Case("osmasem", ("cordata missing", BECKER_MODEL), D, ("'Rosenberg (1981)'", "missing='drop'"), {"moderators": "lag"}),
    "osmasem text moderator": Case("osmasem", ("cordata text", BECKER_MODEL), D, ("'lag'", "not numeric", "'two'"), {"moderators": "lag"}),
    "osmasem moderated parameter not in the model": Case("osmasem", ("cordata", BECKER_MODEL), M, ("'MathonSpatail'", "did you mean 'MathonSpatial'"), {"moderators": "lag", "moderate": ["MathonSpatail"]}),
    "osmasem variable not in the data": Case("osmasem", ("cordata", "Math ~ Spatial + verbal"), M, ("['verbal']", "did you mean 'Verbal'")),
    "osmasem unknown re_type": Case("osmasem", ("cordata", BECKER_MODEL), M, ("re_type", "'Full'", "Diag"), {"re_type": "Full"}),
    "osmasem_r2 on a stage-2 fit": Case("osmasem_r2", ("stage2", "osmasem fit"), M, ("fit1", "TSSEM2Result")),
    "osmasem_srmr with moderators": Case("osmasem_srmr", ("osmasem fit moderated",), M, ("without moderators", "['lag']")),
    "prediction_intervals from a stage-2 fit": Case("prediction_intervals", ("stage2", "stage2"), D, ("random-effects tssem1()", "TSSEM2Result")),
    "prediction_intervals too few draws": Case("prediction_intervals", ("stage1", "stage2"), D, ("n_draws", "at least 100", "got 0"), {"n_draws": 0, "progress": False}),
    "prediction_intervals unknown kind": Case("prediction_intervals", ("stage1", "stage2"), D, ("kind", "'credible'"), {"kind": "credible", "progress": False}),
    "tssem1 unknown method": Case("tssem1", ([R1, R2, R3], N3), M, ("method", "'XYZ'", "REM", "FEM"), {"method": "XYZ"}),
    "tssem1 unknown re_type": Case("tssem1", ([R1, R2, R3], N3), M, ("re_type", "'full'", "Diag"), {"re_type": "full"}),
    "uni_r r above 1": Case("uni_r", ([with_cell(R1, 0, 1, 1.5), R2, R3], N3), D, ("matrices[0]", "1.5")),
    "uni_r no study": Case("uni_r", ([], []), D, ("at least 2 studies",)),
    # --- stage 2: the model ----------------------------------------------------------------------
    "tssem2 lavaan syntax error": Case("tssem2", ("stage1", "c ~~~ a +"), M, ("line 1", "c ~~~ a +"), ),
    "tssem2 variable not in the data": Case("tssem2", ("stage1", "c ~ a + zz"), M, ("'zz'", "available variables")),
    "tssem2 not identified": Case("tssem2", ("stage1", "c ~ a + b\na ~ c\nb ~ c"), M, ("not identified", "4 free parameters", "3 correlations")),
    "tssem2 label on a computed error variance": Case("tssem2", ("stage1", "c ~ x*a + b\nc ~~ x*c"), M, ("label 'x'", "variance of c", "line 1", "diag_constraints=True")),
    "tssem2 unknown interval type": Case("tssem2", ("stage1", MODEL), M, ("intervals", "'boot'", "wald", "profile"), {"intervals": "boot"}),
    "tssem2 not a stage-1 result": Case("tssem2", ({"pooled": 1}, MODEL), D, ("tssem1() result", ".vcov")),
    "tssem2 empty model": Case("tssem2", ("stage1", "   "), M, ("empty",)),
    "tssem2 definition with an unknown label": Case("tssem2", ("stage1", "c ~ x*a + b\nind := x*y"), M, ("line 2", "'y'", "labels available")),
    "tssem2 definition with code": Case("tssem2", ("stage1", "c ~ x*a + b\nind := __import__('os').getcwd()"), M, ("line 2", "'__import__' is not a valid name")),
    "tssem2 diag_constraints not boolean": Case("tssem2", ("stage1", MODEL), M, ("diag_constraints", "'yes'"), {"diag_constraints": "yes"}),
    "lavaan_to_ram dangling plus": Case("lavaan_to_ram", ("y ~ x +",), M, ("line 1", "ends with '+'")),
    "model_variables variable not in order": Case("model_variables", ("y ~ x",), M, ("'x' (line 1)", "not in order"), {"order": ["y", "z"]}),
    "indirect too few replications": Case("indirect", ("stage2",), D, ("n_boot", "100", "0"), {"n_boot": 0}),
    "indirect seed not an integer": Case("indirect", ("stage2",), D, ("seed", "'x'"), {"n_boot": 200, "seed": "x"}),
    "compare with itself": Case("compare", ("stage2", "stage2"), M, ("degrees of freedom",)),
    "refit with too few correlations": Case("refit", ("stage2", [0.1, 0.2]), D, ("b_a", "3 values", "(2,)")),
    # --- univariate meta-analysis -----------------------------------------------------------------
    "meta negative sampling variance": Case("meta", (YI, -VI), D, ("vi", "study 1", "-0.01")),
    "meta NaN sampling variance": Case("meta", (YI, np.where(np.arange(5) == 1, np.nan, VI)), D, ("vi", "NaN", "position 2")),
    "meta lists of different lengths": Case("meta", (YI, VI[:3]), D, ("yi has 5", "vi has 3")),
    "meta unknown method": Case("meta", (YI, VI), D, ("method", "'EB2'", "REML"), {"method": "EB2"}),
    "meta a single study": Case("meta", (YI[:1], VI[:1]), D, ("1 study", "at least 2")),
    "meta strings among effect sizes": Case("meta", (["a", "0.2"], [0.01, 0.02]), D, ("yi", "'a'")),
    "escalc r above 1": Case("escalc", ("ZCOR", [0.2, 1.2], [50, 60]), D, ("ri", "row 1", "1.2")),
    "escalc n too small": Case("escalc", ("ZCOR", [0.2, 0.3], [50, 3]), D, ("ni", "row 1", "3")),
    "escalc unknown measure": Case("escalc", ("SMD", [0.2, 0.3], [50, 60]), D, ("measure", "'SMD'")),
    "meta_regression moderators of the wrong length": Case("meta_regression", (YI, VI, np.array([1.0, 2.0, 3.0])), D, ("3 rows", "5 studies")),
    "meta_regression collinear moderators": Case("meta_regression", (YI, VI, np.ones(5)), M, ("collinear",)),
    "subgroup groups of the wrong length": Case("subgroup", (YI, VI, ["a", "b"]), D, ("groups has 2", "5 studies")),
    "hunter_schmidt r above 1": Case("hunter_schmidt", ([0.2, 1.3], [50, 60]), D, ("study 2", "1.3")),
    "hunter_schmidt reliability above 1": Case("hunter_schmidt", ([0.2, 0.3], [50, 60]), D, ("rxx", "study 1", "1.2"), {"rxx": [1.2, 0.8]}),
    "egger with two studies": Case("egger", ("meta2",), D, ("at least 3 studies", "k = 2")),
    "trim_and_fill with two studies": Case("trim_and_fill", ("meta2",), D, ("at least 3 studies", "k = 2")),
    "failsafe_n negative sampling variance": Case("failsafe_n", (YI, -VI), D, ("vi", "study 1", "-0.01")),
    "pet_peese on arrays": Case("pet_peese", (YI, VI), D, ("meta()", "ndarray")),
    # --- effect-size helpers ----------------------------------------------------------------------
    "r_to_z outside [-1, 1]": Case("r_to_z", (1.5,), D, ("1.5", "[-1, 1]")),
    "z_to_r string": Case("z_to_r", ("a",), D, ("'a'", "number")),
    "vechs not square": Case("vechs", (np.ones((2, 3)),), D, ("square", "(2, 3)")),
    "olkin_siotani zero sample size": Case("olkin_siotani", (R1, 0), D, ("n", "0")),
    # --- the CSV loader (more in test_data.py) -----------------------------------------------------
    "read_database missing folder": Case("read_database", ("{tmp}/no_such_folder",), D, ("no_such_folder", "folder not found")),
    "read_database empty file": Case("read_database", ("{db:studies=}",), D, ("studies.csv", "empty")),
    "read_database wrong encoding": Case("read_database", ("{db:latin1}",), D, ("studies.csv", "UTF-8")),
    "read_database wrong header": Case("read_database", ("{db:header}",), D, ("studies.csv", "n")),
    "matrices unknown variable": Case("matrices", ("{bundled:team}", ["T_EMP", "XX"]), D, ("'XX'", "codebook")),
    "simulate_database no studies": Case("simulate_database", ("{population}",), D, ("n_studies", "0"), {"level": "team", "n_studies": 0}),
    # --- subgroup MASEM ------------------------------------------------------------------------------
    "subgroup_tssem unknown moderator": Case("subgroup_tssem", ("individual database", BUNDLED_VARIABLES), D, ("by must name", "'sector'", "industry"), {"by": "sector"}),
    "subgroup_tssem pair missing in a group": Case("subgroup_tssem", ("individual database", ["PE", "CSE", "CSAT"]), D, ("group 'other'", "CSE-CSAT"), {"by": "industry"}),
    "tssem2_multigroup unknown parameter": Case("tssem2_multigroup", ("subgroups", BUNDLED_MODEL), M, ("unknown parameter 'beta'", "JSonPE"), {"equal": "beta"}),
    "tssem2_multigroup on a single-group stage 1": Case("tssem2_multigroup", ("stage1", "c ~ a"), D, ("subgroup_tssem()", "TSSEM1Result")),
    "equality_tests on a string": Case("equality_tests", ("x",), M, ("tssem2_multigroup()", "str")),
    "equality_tests unknown parameter": Case("equality_tests", ("multigroup",), M, ("unknown parameter 'beta'",), {"parameters": ["beta"]}),
    # --- robustness and recovery --------------------------------------------------------------------
    "leave_one_out on a list": Case("leave_one_out", ([R1, R2], "c ~ a"), D, ("StudyMatrices", "list")),
    "leave_one_out unknown method": Case("leave_one_out", ("study matrices", BUNDLED_MODEL), M, ("method", "'XYZ'"), {"method": "XYZ", "progress": False}),
    "compare_variants unknown variable": Case("compare_variants", ("individual database", ["PE", "XX"], "XX ~ PE"), D, ("'XX'", "codebook")),
    "uni_r_pooled on a tssem1 result": Case("uni_r_pooled", ("stage1",), D, ("uni_r()", "TSSEM1Result")),
    "without_moderators on a string": Case("without_moderators", ("x",), D, ("Population", "str")),
    "expected_matrix with moderators": Case("expected_matrix", ("population", ["PE", "JS"]), D, ("moderators", "without_moderators")),
    "expected_matrix unknown variable": Case("expected_matrix", ("population without moderators", ["PE", "XX"]), D, ("'XX'",)),
    "recovery_truth unknown variable": Case("recovery_truth", ("population without moderators", "JS ~ XX", ["JS", "XX"]), D, ("'XX'",)),
    "parameter_recovery no replications": Case("parameter_recovery", ("population without moderators", "JS ~ PE", ["PE", "JS"]), D, ("n_reps", "0"), {"n_reps": 0, "progress": False}),
    # --- tables ---------------------------------------------------------------------------------------
    "apa_table on a list": Case("apa_table", ([1, 2], "title"), D, ("DataFrame", "list")),
    "apa_table unknown column": Case("apa_table", (pd.DataFrame({"a": [1.0]}), "title"), D, ("['zz']", "['a']"), {"columns": ["zz"]}),
    "apa_table negative decimals": Case("apa_table", (pd.DataFrame({"a": [1.0]}), "title"), D, ("decimals", "-1"), {"decimals": -1}),
    "apa_stage1 on a stage-2 fit": Case("apa_stage1", ("stage2",), D, ("tssem1()", "TSSEM2Result")),
    "apa_correlations not square": Case("apa_correlations", (pd.DataFrame(np.ones((2, 3))),), D, ("square DataFrame",)),
    "apa_fit on a stage-1 result": Case("apa_fit", ("stage1",), D, ("tssem2()",)),
    "apa_meta on a stage-1 result": Case("apa_meta", ({"a": "stage1"},), D, ("['a']", "meta()")),
    "apa_parameters unknown selection": Case("apa_parameters", ("stage2",), D, ("which", "'foo'"), {"which": "foo"}),
    "export_table unknown format": Case("export_table", ("apa", "{tmp}/table.docx"), D, ("'.docx'", ".csv", ".tex")),
    "export_table on a DataFrame": Case("export_table", (pd.DataFrame(), "{tmp}/table.csv"), D, ("APATable", "DataFrame")),
    # --- helpers of notebooks 06 and 07 ----------------------------------------------------------------
    "loading_table without a factor": Case("loading_table", ("stage2",), M, ("no latent factor", "=~")),
    "residual_table negative count": Case("residual_table", ("stage2",), M, ("largest", "-1"), {"largest": -1}),
    "path_summary unknown variable": Case("path_summary", ("stage2", "stage1", {"x": ("a", "zz")}, "individual"), M, ("relation 'x'", "['zz']")),
    # --- the reviewer's study (issue 19): residuals, effects, bias, levels, importance -------------
    "residual_check threshold above 1": Case("residual_check", ("stage2",), M, ("threshold", "5"), {"threshold": 5}),
    "residual_covariance on a stage-1 result": Case("residual_covariance", ("stage1",), M, ("tssem2()", "TSSEM1Result")),
    "decompose_effects pair without a path": Case("decompose_effects", ("stage2",), M, ("('c', 'a')", "no directed path from c to a"), {"pairs": [("c", "a")], "intervals": "wald"}),
    "relative_importance unknown predictor": Case("relative_importance", ("stage1", "c", ["a", "zz"]), D, ("['zz']", "not in the pooled matrix")),
    "incremental_validity overlapping sets": Case("incremental_validity", ("stage1", "c", ["a"], ["a", "b"]), M, ("['a']", "both in base and in added")),
    "bias_adjusted_masem on a list": Case("bias_adjusted_masem", ([R1, R2, R3], MODEL), D, ("StudyDatabase", "list")),
    "cross_level_test a single level": Case("cross_level_test", ({"one": "stage1"}, {"one": {"a": "a"}}, MODEL), D, ("at least two level",)),
    "level_input unknown variable": Case("level_input", ("stage1", {"zz": "z"}), D, ("['zz']", "not in this level")),
}


# Public functions that take no user data, or only objects that other entries already validated.
NOT_IN_CORPUS = {
    "collect_notes": "a context manager without arguments",
    "default_design": "takes only a level name, validated as in simulate_database",
    "read_population": "reads the bundled population folder; its loader errors are tested in test_simulate.py",
    "write_population": "writes a Population object built by read_population",
    "write_database": "writes a StudyDatabase that was validated when it was built",
    "attenuate": "elementwise formula on numbers the caller already validated",
    "disattenuate": "elementwise formula on numbers the caller already validated",
    "vechs_labels": "takes variable names only",
    "example_population": "takes no arguments",
    "default_approaches": "takes no arguments",
    "default_variants": "takes no arguments",
    "funnel_data": "takes a fitted meta() result",
    "bivariate_table": "takes a validated StudyDatabase; its arguments are checked in test_bivariate.py",
    "effect_sizes": "takes a validated StudyDatabase; its arguments are checked in test_bivariate.py",
    "bias_table": "takes a validated StudyDatabase; its arguments are checked in test_bivariate.py",
}

ROOT = Path(__file__).resolve().parents[1]
STUDIES_OK = "study_id,n,industry\nS1,100,service\nS2,50,other\n"
FILES_OK = {
    "constructs.csv": "code,name\nA,Alpha\nB,Beta\n",
    "studies.csv": STUDIES_OK,
    "correlations.csv": "study_id,var1,var2,r\nS1,A,B,0.30\nS2,A,B,0.35\n",
}
BROKEN_FOLDERS = {
    "studies=": {"studies.csv": ""},
    "latin1": {"studies.csv": "study_id,n,industry\nS1,100,caf\u00e9\nS2,50,other\n".encode("latin-1")},
    "header": {"studies.csv": "study,n,industry\nS1,100,service\nS2,50,other\n"},
}


def _folder(tmp_path: Path, variant: str) -> str:
    folder = tmp_path / variant.replace("=", "_")
    folder.mkdir()
    for name, text in {**FILES_OK, **BROKEN_FOLDERS[variant]}.items():
        if isinstance(text, bytes):
            (folder / name).write_bytes(text)
        else:
            (folder / name).write_text(text, encoding="utf-8")
    return str(folder)


def resolve(value: object, tmp_path: Path) -> object:
    """Turn the placeholders of a case into real arguments (fits, folders, databases)."""
    if isinstance(value, dict):
        return {k: resolve(v, tmp_path) for k, v in value.items()}
    if isinstance(value, str) and value in FITTED:
        return FITTED[value]()
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        kind, _, detail = value[1:-1].partition(":")
        if kind == "tmp":
            return str(tmp_path)
        if kind == "db":
            return _folder(tmp_path, detail)
        if kind == "bundled":
            return masem.read_database(ROOT / "data" / detail)
        if kind == "population":
            return str(ROOT / "data" / "population")
    if isinstance(value, str) and value.startswith("{tmp}"):
        return str(tmp_path) + value[len("{tmp}"):]
    return value


def entry_point(name: str, args: list) -> tuple[Callable, list]:
    if name == "matrices":  # a method of the database passed as the first argument
        return args[0].matrices, args[1:]
    return getattr(masem, name), args


def same(a: object, b: object) -> bool:
    """Deep equality that treats NaN as equal to NaN (for comparing inputs with their copies)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a_, b_ = np.asarray(a), np.asarray(b)
        if a_.shape != b_.shape or a_.dtype != b_.dtype:
            return False
        if a_.dtype == object:
            return all(same(x, y) for x, y in zip(a_.ravel(), b_.ravel()))
        return bool(np.array_equal(a_, b_, equal_nan=a_.dtype.kind in "fc"))
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return type(a) is type(b) and a.equals(b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return type(a) is type(b) and same(vars(a), vars(b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_clearly_and_left_alone(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    args = [resolve(a, tmp_path) for a in case.args]
    kwargs = {k: resolve(v, tmp_path) for k, v in case.kwargs.items()}
    before = copy.deepcopy((args, kwargs))
    func, call_args = entry_point(case.entry, args)
    with pytest.raises(Exception) as info:
        func(*call_args, **kwargs)
    error = info.value
    assert isinstance(error, case.error), f"{name}: {type(error).__name__}: {error}"
    assert isinstance(error, (ValueError, FileNotFoundError))
    assert not isinstance(error, (IndexError, ZeroDivisionError, np.linalg.LinAlgError, FloatingPointError))
    message = str(error)
    missing = [f for f in case.fragments if f not in message]
    assert not missing, f"{name}: the message lacks {missing}: {message}"
    assert same(before, (args, kwargs)), f"{name}: the call changed its inputs"


def test_corpus_is_large_and_covers_every_entry_point() -> None:
    assert len(CASES) >= 40, "issue 7 asks for at least 40 bad-input cases"
    functions = {
        name for name in masem.__all__
        if callable(getattr(masem, name)) and not isinstance(getattr(masem, name), type)
    }
    covered = {case.entry for case in CASES.values()}
    uncovered = sorted(functions - covered - set(NOT_IN_CORPUS))
    assert not uncovered, f"public functions without a bad-input case (add one, or exempt with a reason): {uncovered}"
    stale = sorted(set(NOT_IN_CORPUS) - functions)
    assert not stale, f"exemptions for names that are no longer public: {stale}"
