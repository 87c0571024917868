"""Small published MASEM data sets bundled with the package, for examples and a first try.

The files are the published correlation tables as distributed with metaSEM (Cheung, 2015), byte
for byte the project's reference copies; each names its source, which is what to cite.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

from masem.data.database import StudyDatabase
from masem.data.simulate import Population, read_population
from masem.errors import DataError

__all__ = ["ExampleData", "example_data"]

EXAMPLES = ("Becker92", "Hunter83", "Nohe15A1")


@dataclass(frozen=True)
class ExampleData:
    """One bundled data set: per-study correlation matrices, sample sizes and moderators.

    Attributes
    ----------
    name : str
        The metaSEM name of the data set.
    variables : list of str
        The variables, in the order of the matrices' rows and columns.
    matrices : dict of str to DataFrame
        One p x p correlation matrix per study, keyed by study; NaN = not reported, a NaN
        diagonal = a variable the study did not measure. A name that the data set gives to
        several samples is numbered (``"Ford (2010) #1"``, ``"Ford (2010) #2"``).
    n : list of int
        Sample sizes, in the order of ``matrices``.
    moderators : DataFrame
        Study characteristics, one row per study (empty when the data set has none).
    source : str
        The publication the correlations come from.
    """

    name: str
    variables: list[str]
    matrices: dict[str, pd.DataFrame] = field(repr=False)
    n: list[int] = field(repr=False)
    moderators: pd.DataFrame = field(repr=False)
    source: str = field(repr=False)

    def database(self) -> StudyDatabase:
        """The data set as a study database (one row per reported correlation), for the
        functions that take one: :func:`masem.subgroup_tssem`, :func:`masem.compare_variants`.

        Returns
        -------
        StudyDatabase
            Studies ``S01``, ``S02``, ... (the names in ``label``), with the moderators; the
            constructs are the variables. Correlations the data set does not report are absent.

        Examples
        --------
        >>> import masem
        >>> db = masem.example_data("Hunter83").database()
        >>> len(db.studies), list(db.constructs["code"])
        (14, ['Ability', 'Job_knowledge', 'Work_sample', 'Supervisor'])
        """
        ids = [f"S{i + 1:02d}" for i in range(len(self.matrices))]
        studies = pd.DataFrame({"study_id": ids, "label": list(self.matrices), "n": self.n})
        for column in self.moderators.columns:
            studies[column] = self.moderators[column].to_numpy()
        rows = []
        for sid, matrix in zip(ids, self.matrices.values()):
            values = matrix.to_numpy()
            for a in range(len(self.variables)):
                for b in range(a + 1, len(self.variables)):
                    if np.isfinite(values[a, b]):
                        pair = (self.variables[a], self.variables[b])
                        rows.append((sid, *pair, float(values[a, b])))
        correlations = pd.DataFrame(rows, columns=["study_id", "var1", "var2", "r"])
        constructs = pd.DataFrame({"code": self.variables, "name": self.variables})
        return StudyDatabase.from_frames(studies, correlations, constructs)


def example_data(name: str) -> ExampleData:
    """Load a published data set bundled with masem.

    Parameters
    ----------
    name : {"Becker92", "Hunter83", "Nohe15A1"}
        Becker (1992): mathematics, spatial and verbal ability, 6 studies, complete. Hunter (1983):
        ability, job knowledge, work sample and supervisor rating, 14 studies, some correlations
        missing. Nohe et al. (2015): work-family conflict and strain at two waves, 32 panel
        studies, with moderators (``Lag`` in months, ...).

    Returns
    -------
    ExampleData
        ``matrices`` and ``n`` go straight into :func:`masem.tssem1`.

    Raises
    ------
    DataError
        ``name`` is not one of the bundled data sets (the message lists them).

    References
    ----------
    Becker, B. J. (1992). Using results from replicated studies to estimate linear models.
    *Journal of Educational Statistics*, 17(4), 341-362.
    Hunter, J. E. (1983). A causal analysis of cognitive ability, job knowledge, job performance,
    and supervisor ratings. In F. Landy, S. Zedeck, & J. Cleveland (Eds.), *Performance
    Measurement and Theory* (pp. 257-266). Erlbaum.
    Nohe, C., Meier, L. L., Sonntag, K., & Michel, A. (2015). The chicken or the egg? A
    meta-analysis of panel studies of the relationship between work-family conflict and strain.
    *Journal of Applied Psychology*, 100(2), 522-536.
    Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.

    Examples
    --------
    >>> import masem
    >>> ex = masem.example_data("Becker92")
    >>> ex.variables, len(ex.matrices), sum(ex.n)
    (['Math', 'Spatial', 'Verbal'], 6, 538)
    """
    if name not in EXAMPLES:
        raise DataError(f"no bundled data set called {name!r}; choose one of {list(EXAMPLES)}")
    raw = json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8"))
    variables = [str(v) for v in raw["variables"]]
    studies = _unique([str(s) for s in raw["studies"]])
    matrices = {
        study: pd.DataFrame(np.array(m, dtype=float), index=variables, columns=variables)
        for study, m in zip(studies, raw["matrices"])
    }
    moderators = pd.DataFrame(raw.get("moderators") or {}, index=pd.Index(studies, name="study"))
    return ExampleData(
        name=name,
        variables=variables,
        matrices=matrices,
        n=[int(v) for v in raw["n"]],
        moderators=moderators,
        source=str(raw["source"]),
    )


def _unique(names: list[str]) -> list[str]:
    """Number the repeats of a name (several samples of one publication), keeping the order."""
    counts = {name: names.count(name) for name in names}
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if counts[name] == 1:
            out.append(name)
        else:
            seen[name] = seen.get(name, 0) + 1
            out.append(f"{name} #{seen[name]}")
    return out


def example_population() -> Population:
    """A three-construct team-level population model bundled with masem, for examples and tests.

    Practices (``X``) affect empowerment (``M``, path .40), which affects performance (``Y``,
    path .30); the path ``Y ~ M`` is .10 stronger in service firms and .10 weaker in others
    (moderator ``industry``). The files (``constructs.csv``, ``team_model.csv``,
    ``moderators.csv``) show the format :func:`masem.read_population` reads.

    Returns
    -------
    Population
        The level ``"team"`` population.

    Examples
    --------
    >>> import masem
    >>> pop = masem.example_population()
    >>> pop.implied({"industry": "service"}).round(2).loc["Y", "X"]
    np.float64(0.16)
    """
    with resources.as_file(resources.files(__name__).joinpath("population")) as folder:
        return read_population(folder, "team")
