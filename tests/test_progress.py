"""What a local run shows while it works: pages (or shards) done, the rate and the time left."""

import re
import time

import pytest

from pipelines.launch import PageProgress, Progress, ShardProgress, UnitProgress
from relxdata.cli import main


def test_a_log_line_says_done_total_rate_and_time_left():
    progress = Progress(8240, enabled=False)
    assert progress.line(1234, 7.7) == "pages: 1,234 of 8,240 (14%), 160 pages/s, 0:44 left"
    assert progress.line(0, 3.0) == "pages: 0 of 8,240 (0%), 0 pages/s"
    assert progress.line(8240, 51.0) == "pages: 8,240 of 8,240 (100%), 162 pages/s"
    assert Progress(2_000_000, enabled=False).line(1000, 10.0) == (
        "pages: 1,000 of 2,000,000 (0%), 100 pages/s, 5:33:10 left")
    assert Progress(12, enabled=False, unit="shard").line(3, 6.0) == "shards: 3 of 12 (25%), 0 shards/s, 0:18 left"


def test_the_rate_is_of_the_pages_not_of_the_stages_after_them(monkeypatch, capsys):
    monkeypatch.setattr(Progress, "LINE_SECONDS", 0.1)

    class Pages(Progress):
        count = 0

        def done(self) -> int:
            return self.count

    progress = Pages(100, enabled=True)
    with progress:
        time.sleep(0.25)
        progress.count = 100  # every page done after about 0.3 s
        time.sleep(1.0)  # a later stage: the count stays
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("pages: 100 of 100 (100%), ")
    assert int(re.search(r"(\d+) pages/s", last)[1]) >= 150  # not 100 pages in 1.3 s (77/s)


def test_workers_tell_pages_per_unit_and_the_display_sums_them(tmp_path):
    units = UnitProgress(str(tmp_path / "progress"), every_seconds=0.0)
    display = PageProgress(units, {0: 4, 1: 3}, enabled=True)
    with display:
        assert display.total == 7
        assert list(units.counting(0, iter("abcd"))) == list("abcd")
        assert display.done() == 4
        (tmp_path / "progress" / "0").write_text("not read again")  # unit 0 has done its 4 pages
        assert display.done() == 4
        taken = units.counting(1, iter("xyz"))
        next(taken)
        next(taken)
        assert display.done() == 5  # a page counts once the next is asked for: it is done
        list(taken)
        assert display.done() == 7
        units.tell(1, 3)  # a unit told again (a retried bundle) replaces its count
        assert display.done() == 7
    assert not (tmp_path / "progress").exists()  # the folder goes with the run


def test_a_worker_without_its_folder_goes_on(tmp_path):
    units = UnitProgress(str(tmp_path / "never-made"), every_seconds=0.0)
    assert list(units.counting(0, range(3))) == [0, 1, 2]


def test_shards_are_counted_as_they_appear(tmp_path):
    progress = ShardProgress(str(tmp_path), 3, enabled=False)
    (tmp_path / "part-00000-of-00003.parquet").write_bytes(b"")
    (tmp_path / "part-00001-of-00003.parquet.inprogress").write_bytes(b"")
    assert progress.done() == 1


@pytest.mark.slow
def test_a_run_logs_moving_pages_without_a_terminal(wikipedia, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Progress, "LINE_SECONDS", 0.3)
    assert main(["run", "sentences", "--lang", "en", "--dump", str(wikipedia / "enwiki-2016-sample.xml.bz2"),
                 "--out", str(tmp_path / "out"), "--direct_num_workers=1"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert "\r" not in "".join(lines)  # lines, no redrawn bar
    done = [int(re.match(r"pages: ([\d,]+) of 206 \(\d+%\), \d+ pages/s", line)[1].replace(",", "")) for line in lines]
    assert done[-1] == 206 and lines[-1].startswith("pages: 206 of 206 (100%)")
    assert len(set(done)) >= 3 and done == sorted(done)  # it moved during the run, never back
    assert any(0 < pages < 206 for pages in done)  # within its one shard: not per finished shard
