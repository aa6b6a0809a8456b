import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("RELXDATA_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
WIKIPEDIA = SHARED / "wikipedia"
# Every dump of shared/data/wikipedia: (its path there, its language, whether it is cut short).
REAL_DUMPS = (
    ("enwiki-2016-sample.xml.bz2", "en", False),
    ("enwiki-2022-head-truncated.xml.bz2", "en", True),
    ("enwiki-redirect-sample.xml.bz2", "en", False),
    ("jawiki-2025-head.xml.bz2", "ja", False),
    ("minidumps/dewiki.xml.bz2", "de", False),
    ("minidumps/enwiki.xml.bz2", "en", False),
    ("minidumps/eswiki.xml.bz2", "es", False),
    ("minidumps/frwiki.xml.bz2", "fr", False),
    ("minidumps/trwiki.xml.bz2", "tr", False),
    ("multistream/jawiki-20220501-pages-articles-multistream.xml_head10000.txt", "ja", True),
)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end runs of whole pipelines (run in CI; skip with -m 'not slow')")
    stale = sorted(source.name for source in stale_compiled_sources())
    if stale:
        pytest.exit(f"compiled before their source last changed: {', '.join(stale)}; rebuild them with "
                    "`pip install -e .` (or delete relxdata/*.so to test the pure-Python modules)", returncode=2)


def stale_compiled_sources() -> list[Path]:
    """Modules of relxdata whose compiled extension (setup.py) is older than their source: Python
    imports the extension, so the tests would test the code as it was."""
    from importlib.machinery import EXTENSION_SUFFIXES

    import relxdata

    package = Path(relxdata.__file__).parent
    stale = []
    for extension in package.iterdir():
        source = package / (extension.name.split(".")[0] + ".py")
        if extension.name.endswith(tuple(EXTENSION_SUFFIXES)) and source.exists() \
                and source.stat().st_mtime > extension.stat().st_mtime:
            stale.append(source)
    return stale


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"the shared sample data is missing: {SHARED} (set RELXDATA_SHARED_DATA)")
    return SHARED


@pytest.fixture(scope="session")
def wikipedia(shared_data) -> Path:
    return shared_data / "wikipedia"


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> tuple[Path, str]:
    """`relxdata demo` run once for the session: its output directory, and what it printed."""
    from relxdata.cli import main

    out = tmp_path_factory.mktemp("demo") / "demo"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["demo", "--out", str(out)]) == 0
    return out, printed.getvalue()


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


@pytest.fixture(scope="session")
def sparql_server(tmp_path_factory):
    """Starts real SPARQL endpoints (the `oxigraph` server) on loopback: `sparql_server(ntriples) -> URL`.

    Each holds the triples of one N-Triples file, read-only; all are stopped when the session ends.
    """
    binary = shutil.which("oxigraph") or shutil.which("oxigraph", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.fail("the oxigraph server CLI is missing: pip install -e '.[test]'")
    servers = []

    def start(ntriples: Path) -> str:
        store = tmp_path_factory.mktemp("oxigraph")
        subprocess.run([binary, "load", "--location", str(store), "--file", str(ntriples)], check=True,
                       capture_output=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        log = store.parent / f"{store.name}.log"
        server = subprocess.Popen([binary, "serve-read-only", "--location", str(store), "--bind", f"127.0.0.1:{port}"],
                                  stdout=log.open("wb"), stderr=subprocess.STDOUT)
        servers.append(server)
        endpoint = f"http://127.0.0.1:{port}/query"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}?query=ASK%7B%7D", timeout=1).read()
                return endpoint
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    pytest.fail(f"oxigraph did not start: {log.read_text(errors='replace')[-500:]}")
                time.sleep(0.05)

    yield start
    for server in servers:
        server.terminate()
        server.wait(10)
