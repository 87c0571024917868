"""Regenerate the bundled, simulated study database (``make data``).

Reads the population model in data/population (constructs.csv, <level>_model.csv,
moderators.csv) and writes, byte for byte reproducibly for a given seed,

    <out>/population/<level>_correlations.csv   the model-implied population correlations
    <out>/<level>/{studies,correlations,reliabilities,constructs}.csv

for level = individual and team. Defaults: --population data/population, --out data, --seed 2011.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from masem.data import write_database
from masem.data.simulate import LEVELS, read_population, simulate_database, write_population

ROOT = Path(__file__).resolve().parents[1]
SEED = 2011  # the year Seibert, Wang & Courtright published the meta-analysis this replicates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--population", type=Path, default=ROOT / "data" / "population")
    parser.add_argument("--out", type=Path, default=ROOT / "data")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    for level in LEVELS:
        population = read_population(args.population, level)
        write_population(population, args.out / "population")
        database = simulate_database(population, seed=args.seed)
        write_database(database, args.out / level)
        print(f"{level}: {database!r} -> {args.out / level}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
