"""Kill tests: every command that writes, killed (SIGKILL of its whole process group) early, midway and
late, and interrupted once (SIGINT). Afterwards nothing looks complete (no `_manifest.json`, no final
file under its final name), and a rerun into the same --out gives the bytes of an unbroken run."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relxdata.cli import main
from relxdata.errors import INTERRUPTED
from relxdata.synthetic import write_contract_corpus

pytestmark = pytest.mark.slow
BEAM = ["--direct_num_workers", "2"]
MOMENTS = ("early", "midway", "late")


def outputs(out: Path) -> dict[str, str]:
    """Every file of an output but the manifest (its wall time differs), with its SHA-256."""
    return {str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(out.rglob("*")) if path.is_file() and path.name != "_manifest.json"}


def finished_parts(out: Path) -> int:
    return len(list(out.rglob("part-*.parquet")))


def interrupted(argv: list[str], out: Path, moment: str, parts: int, sig=signal.SIGKILL) -> subprocess.CompletedProcess:
    """Run `relxdata argv` and send `sig` to its process group at `moment`: half a second in, once a
    third of its `parts` output files are written, or once two thirds are."""
    process = subprocess.Popen([sys.executable, "-m", "relxdata.cli", *argv], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started, wanted = time.monotonic(), {"early": 0, "midway": max(1, parts // 3), "late": max(1, 2 * parts // 3)}
    while process.poll() is None and time.monotonic() - started < 300:
        if (moment == "early" and time.monotonic() - started > 0.5) or \
                (moment != "early" and finished_parts(out) >= wanted[moment]):
            break
        time.sleep(0.02)
    assert process.poll() is None, f"{argv[:2]} ended before the {moment} moment: make the input larger"
    os.killpg(process.pid, sig)
    stderr = process.communicate(timeout=120)[1]
    if sig == signal.SIGKILL:
        try:  # workers of a killed group may still be dying
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(argv, process.returncode, "", stderr)


def looks_complete(out: Path, final_names: tuple[str, ...]) -> list[str]:
    return [name for name in ("_manifest.json", *final_names) if (out / name).exists()]


def check_command(tmp_path: Path, argv_for, parts: int, final_names: tuple[str, ...] = ()):
    """The kill and interrupt checks for one command; `argv_for(out)` builds its arguments."""
    reference = tmp_path / "unbroken"
    assert main(argv_for(reference)) == 0
    expected = outputs(reference)
    for moment in MOMENTS:
        out = tmp_path / f"killed-{moment}"
        result = interrupted(argv_for(out), out, moment, parts)
        assert result.returncode == -signal.SIGKILL
        assert looks_complete(out, final_names) == [], f"killed {moment}: {looks_complete(out, final_names)}"
        assert main([*argv_for(out), "--overwrite"]) == 0
        assert outputs(out) == expected, f"the rerun after a kill {moment} differs"
    out = tmp_path / "interrupted"
    result = interrupted(argv_for(out), out, "midway", parts, signal.SIGINT)
    assert result.returncode == 130, result.stderr[-2000:]
    # The last line, but for a progress bar's redraw that may still come after it.
    assert INTERRUPTED in [line.strip() for line in result.stderr.replace("\r", "\n").splitlines()[-3:]]
    assert looks_complete(out, final_names) == []


@pytest.fixture(scope="module")
def sample(wikipedia):
    return str(wikipedia / "enwiki-2016-sample.xml.bz2")


def test_run_sentences(tmp_path, sample):
    check_command(tmp_path, lambda out: ["run", "sentences", "--lang", "en", "--dump", sample, "--out", str(out),
                                         "--pages-per-shard", "15", *BEAM], parts=4 * 14)


@pytest.fixture(scope="module")
def sentences(sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("sentences") / "en"
    assert main(["run", "sentences", "--lang", "en", "--dump", sample, "--out", str(out), "--pages-per-shard", "15",
                 *BEAM]) == 0
    return str(out)


@pytest.fixture(scope="module")
def wikidata(tmp_path_factory):
    from relxdata.demo import sample_knowledge_base
    return sample_knowledge_base()


def test_run_relx_distant(tmp_path, sentences, wikidata):
    check_command(tmp_path, lambda out: ["run", "relx-distant", "--lang", "en", "--sentences", sentences,
                                         "--wikidata", wikidata, "--negatives", "0.1", "--out", str(out), *BEAM],
                  parts=2 * 14)


def test_run_smiler(tmp_path, sentences, shared_data):
    lines = (shared_data / "dbpedia/en/rdfrules-mappingbased_objects_sample.head5200.tsv").read_text().splitlines()
    facts = tmp_path / "objects.nt"
    facts.write_text("".join(f"{line.rstrip()} .\n" for line in lines))
    check_command(tmp_path, lambda out: ["run", "smiler", "--lang", "en", "--sentences", sentences, "--dbpedia",
                                         str(facts), "--out", str(out), *BEAM], parts=14)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    write_contract_corpus(str(out), 40_000, seed=3, langs={"en": 3, "de": 2, "fr": 2}, shards=4)
    return str(out)


def test_build_pairs(tmp_path, corpus):
    check_command(tmp_path, lambda out: ["build-pairs", "--corpus", corpus, "--out", str(out), "--num-pairs",
                                         "400000", "--pairs-per-shard", "20000", "--threads", "2"], parts=20)


def test_run_pairs(tmp_path, corpus):
    check_command(tmp_path, lambda out: ["run", "pairs", "--corpus", corpus, "--out", str(out), "--num-pairs",
                                         "40000", "--pairs-per-shard", "4000", *BEAM], parts=10)


def test_export(tmp_path, sentences, wikidata, shared_data):
    corpus_dir = tmp_path / "relx"
    assert main(["run", "relx-distant", "--lang", "en", "--sentences", sentences, "--wikidata", wikidata,
                 "--negatives", "1.0", "--out", str(corpus_dir), *BEAM]) == 0
    out = tmp_path / "export"
    out.mkdir()
    target = out / "en.json"
    process = subprocess.Popen([sys.executable, "-m", "relxdata.cli", "export", "relx-json", "--corpus",
                                str(corpus_dir), "--out", str(target)], start_new_session=True,
                               stderr=subprocess.DEVNULL)
    while process.poll() is None and not (out / "en.json.inprogress").exists():
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not target.exists() or process.returncode == 0  # a kill never leaves a half file under the name
    assert main(["export", "relx-json", "--corpus", str(corpus_dir), "--out", str(target), "--overwrite"]) == 0
    reference = tmp_path / "reference.json"
    assert main(["export", "relx-json", "--corpus", str(corpus_dir), "--out", str(reference)]) == 0
    assert target.read_bytes() == reference.read_bytes()


def test_stats(tmp_path, sentences):
    """stats writes stats.json, then its plots, then the card: killed before the end, it leaves no card, and
    its rerun writes the bytes of an unbroken run."""
    def argv_for(out: Path) -> list[str]:
        return ["stats", sentences, "--out", str(out)]

    def plots(out: Path) -> int:
        return len(list(out.glob("plots/*.png")))

    assert main(argv_for(tmp_path / "unbroken")) == 0
    expected = outputs(tmp_path / "unbroken")
    assert len(expected) == 6 and plots(tmp_path / "unbroken") == 4
    for moment, wanted in (("early", None), ("midway", 1), ("late", 3)):
        out = tmp_path / f"killed-{moment}"
        process = subprocess.Popen([sys.executable, "-m", "relxdata.cli", *argv_for(out)], start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.monotonic()
        while process.poll() is None and (time.monotonic() - started < 0.5 if wanted is None else plots(out) < wanted):
            time.sleep(0.005)
        assert process.poll() is None, f"stats ended before the {moment} moment"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        assert not (out / "README.md").exists(), f"killed {moment}: a card without all its plots"
        assert main(argv_for(out)) == 0
        assert outputs(out) == expected, f"the rerun after a kill {moment} differs"
