import os
import sys
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


def pytest_sessionfinish(session, exitstatus):
    session.config.relxdata_exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the process once pytest has reported, with its exit status.

    Beam's in-process runner leaves daemon gRPC threads behind; finalising the interpreter around
    them makes DuckDB's nanobind bindings print false reference-leak reports after the summary.
    """
    if hasattr(config, "relxdata_exit_status"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.relxdata_exit_status)
