"""A real cluster: masem's parallel parts on a dask.distributed LocalCluster through joblib.

Questions answered:
- test_recovery_on_a_dask_cluster_equals_the_local_run: does a small parameter-recovery study run
  on a LocalCluster of 2 worker processes (joblib's dask backend) give exactly the estimates of the
  same study run locally in one process, with the same seed?
- test_prediction_draws_on_a_dask_cluster_equal_the_local_ones: the same for the refits of
  masem.prediction_intervals.

dask and distributed are the optional extra ``masem[dask]`` (and part of the dev extra, so this
runs in ``make test``). Starting the cluster takes a few seconds; it is started once for the module.
"""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest

import masem
from conftest import ROOT

distributed = pytest.importorskip("distributed")

SMALL = ["HPWP", "PE", "JS"]
SMALL_MODEL = "PE ~ a*HPWP\nJS ~ b*PE + HPWP\nHPWP ~~ 1*HPWP\nab := a*b"


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


@pytest.fixture(scope="module")
def population():
    return masem.read_population(ROOT / "data" / "population", "individual").without_moderators()


def test_recovery_on_a_dask_cluster_equals_the_local_run(client, population) -> None:
    settings = dict(n_reps=4, seed=99, n_studies=60, progress=False)
    local = masem.parameter_recovery(population, SMALL_MODEL, SMALL, **settings)
    with joblib.parallel_backend("dask"):
        remote = masem.parameter_recovery(population, SMALL_MODEL, SMALL, n_jobs=-1, **settings)
    assert len(client.scheduler_info()["workers"]) == 2
    pd.testing.assert_frame_equal(remote.estimates, local.estimates)  # bit for bit, not close
    pd.testing.assert_frame_equal(remote.summary(), local.summary())


def test_prediction_draws_on_a_dask_cluster_equal_the_local_ones(client) -> None:
    example = masem.example_data("Becker92")
    stage1 = masem.tssem1(example.matrices, example.n)
    stage2 = masem.tssem2(stage1, "Math ~ Spatial + Verbal")
    local = masem.prediction_intervals(stage1, stage2, n_draws=200, seed=4, progress=False)
    with joblib.parallel_backend("dask"):
        remote = masem.prediction_intervals(stage1, stage2, n_draws=200, seed=4, n_jobs=-1, progress=False)
    np.testing.assert_array_equal(remote.draws, local.draws)
