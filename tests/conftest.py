import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def pytest_addoption(parser):
    parser.addoption("--fuzz", action="store_true", help="run the fuzz tests of "
                     "tests/test_fuzz.py with 8,000 examples a kind (far longer than the default run)")


def pytest_configure(config):
    if config.getoption("--fuzz"):
        os.environ["SCRATCHCNN_FUZZ"] = "1"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def fresh_split_choices(monkeypatch):
    """Each test starts with no measured split choices: the first call of each kind of
    job then runs split (see scratchcnn.kernels.parallel), so the split tests test splits."""
    from scratchcnn.kernels import parallel
    monkeypatch.setattr(parallel, "_choices", {})


#: The two paths every layer can compute on (scratchcnn.use): tests of the layers' math
#: run on both.
PATHS = ["fast", "textbook"]


@pytest.fixture(params=PATHS)
def path(request):
    """Run the test with every layer on one path, then restore the default."""
    import scratchcnn as sc
    with sc.using(request.param):
        yield request.param


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The documentation site, built once per test run with ``mkdocs build --strict``
    (both languages, the notebooks beside their pages): its folder."""
    import pathlib
    import subprocess
    import sys
    pytest.importorskip("mkdocs")
    site = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                          cwd=pathlib.Path(__file__).parent.parent, capture_output=True,
                          text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return site
