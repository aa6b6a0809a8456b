import subprocess
import sys

import pytest

from relxdata.cli import main


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["run", "sentences", "--help"],
                                  ["run", "pairs", "--help"], ["build-pairs", "--help"], ["demo", "--help"]])
def test_every_command_has_help(argv):
    result = subprocess.run([sys.executable, "-m", "relxdata.cli", *argv], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_unknown_job(capsys):
    assert main(["run", "everything"]) == 2
    assert capsys.readouterr().err.strip() == "relxdata: error: unknown job 'everything'; jobs: sentences, pairs"


@pytest.mark.slow
def test_demo_runs_from_the_installed_package(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    printed = capsys.readouterr().out
    assert "Berlin #0: Berlin is the [capital -> Capital city] of [Germany -> Germany] and its largest city." in printed
    for lang in ("en", "de", "fr", "es", "tr"):
        assert (tmp_path / "demo" / "sentences" / lang / "_manifest.json").exists()
