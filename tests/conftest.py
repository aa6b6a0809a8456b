import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("RELXDATA_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
WIKIPEDIA = SHARED / "wikipedia"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end runs of whole pipelines (run in CI; skip with -m 'not slow')")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"the shared sample data is missing: {SHARED} (set RELXDATA_SHARED_DATA)")
    return SHARED


@pytest.fixture(scope="session")
def wikipedia(shared_data) -> Path:
    return shared_data / "wikipedia"
