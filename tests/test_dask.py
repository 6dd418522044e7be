"""A grid search spread over a Dask cluster gives the scores of the same search run in
one process, bit for bit: each fit is seeded (random_state), whichever worker runs it.

The cluster is two worker processes on this machine, reached over loopback only
(127.0.0.1, no dashboard); a real cluster differs only in the Client it is given."""

import logging
import re

import numpy as np
import pytest

import scratchcnn as sc

pytest.importorskip("sklearn")
pytest.importorskip("distributed")
import joblib  # noqa: E402
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from scratchcnn.sklearn import CNNClassifier  # noqa: E402

#: every score a search records per grid point: per split, their mean, spread and rank
SCORES = re.compile(r"^(split\d+_test_|mean_test_|std_test_|rank_test_)")


@pytest.fixture
def client(tmp_path):
    """Two single-threaded worker processes on 127.0.0.1, closed after the test."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, local_directory=str(tmp_path),
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def search(x, y, n_jobs):
    """Two learning rates by 2-fold cross-validation; accuracy picks, and the log loss
    (a float from every probability) shows any difference in the trained weights."""
    return GridSearchCV(CNNClassifier(model="lenet5", epochs=1, random_state=0),
                        {"lr": [1e-4, 3e-3]}, cv=2, n_jobs=n_jobs,
                        scoring={"accuracy": "accuracy", "log_loss": "neg_log_loss"},
                        refit="accuracy").fit(x, y)


def test_grid_search_on_a_dask_cluster_equals_the_one_process_search(client):
    x, y = sc.datasets.load_sample().train
    x, y = x[:400], y[:400]  # (400, 1, 28, 28): 4 fits of 200 images
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)

    alone = search(x, y, n_jobs=1)
    with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        spread = search(x, y, n_jobs=-1)

    ran_on = {task["worker"] for task in tasks.data}
    assert ran_on and ran_on <= set(workers)  # the fits ran on the cluster's workers
    keys = sorted(k for k in alone.cv_results_ if SCORES.match(k))
    assert len(keys) == 2 * 5 and keys == sorted(k for k in spread.cv_results_
                                                 if SCORES.match(k))
    for key in keys:  # bit for bit, not close
        np.testing.assert_array_equal(spread.cv_results_[key], alone.cv_results_[key],
                                      err_msg=key)
    assert spread.best_params_ == alone.best_params_ == {"lr": 3e-3}
    assert alone.cv_results_["mean_test_accuracy"][1] > alone.cv_results_["mean_test_accuracy"][0]
