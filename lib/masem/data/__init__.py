"""The data layer: study databases (CSV folders), the simulated-database generator and bundled
examples.

It knows no estimator: it reads, validates, subsets and writes correlations, sample sizes,
reliabilities and moderators, and hands per-study matrices to whatever pools them.

- :mod:`masem.data.database`: :class:`StudyDatabase` and :func:`read_database` /
:func:`write_database` (the tables are read and checked one by one in ``_tables``);
- :mod:`masem.data.selection`: what a database gives an analysis (:class:`StudyMatrices`,
:class:`PairCounts`) and the record of which studies it kept or left out (:class:`StudySelection`);
- :mod:`masem.data.simulate`: the seeded generator of a simulated database from a population model;
- :mod:`masem.data.examples`: small published data sets shipped with the package;
- :mod:`masem.data.cordata`: per-study correlations with their sampling covariances and
  moderators, the input of the one-stage MASEM (metaSEM's ``Cor2DataFrame``).
"""

from masem.data.cordata import CorData, cor_data
from masem.data.database import (
    PairCounts,
    StudyDatabase,
    StudyMatrices,
    StudySelection,
    read_database,
    write_database,
)
from masem.data.examples import ExampleData, example_data, example_population
from masem.data.simulate import (
    Population,
    StudyDesign,
    default_design,
    read_population,
    simulate_database,
    write_population,
)

__all__ = [
    "CorData",
    "cor_data",
    "ExampleData",
    "PairCounts",
    "Population",
    "StudyDatabase",
    "StudyDesign",
    "StudyMatrices",
    "StudySelection",
    "default_design",
    "example_data",
    "example_population",
    "read_database",
    "read_population",
    "simulate_database",
    "write_database",
    "write_population",
]
