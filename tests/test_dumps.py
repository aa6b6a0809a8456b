import bz2
import gc
import gzip
import lzma
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import zstandard

from relxdata import xml_copy
from relxdata.dumps import (Compression, index_streams, plan_dump, read_index, read_pages, read_unit,
                            read_unit_bytes, write_multistream)
from relxdata.errors import DumpError


def titles(plan):
    return [page.title for page in read_pages(plan)]


@pytest.mark.parametrize("name, dbname, version, pages", [
    ("enwiki-2016-sample.xml.bz2", "enwiki", "0.10", 206),
    ("enwiki-redirect-sample.xml.bz2", "enwiki", "0.9", 3),
    ("jawiki-2025-head.xml.bz2", "jawiki", "0.11", 234),
    ("minidumps/enwiki.xml.bz2", "enwiki", "0.10", 27),
    ("minidumps/dewiki.xml.bz2", "enwiki", "0.10", 2),
    ("minidumps/trwiki.xml.bz2", "enwiki", "0.10", 1),
])
def test_every_schema_version_reads_every_page(wikipedia, name, dbname, version, pages):
    plan = plan_dump(str(wikipedia / name), pages_per_unit=50)
    assert (plan.siteinfo.dbname, plan.siteinfo.schema_version, plan.pages) == (dbname, version, pages)
    assert len(list(read_pages(plan))) == pages
    assert plan.truncation is None


def test_siteinfo_namespaces_and_case(wikipedia):
    plan = plan_dump(str(wikipedia / "jawiki-2025-head.xml.bz2"))
    names = {ns.key: ns.name for ns in plan.siteinfo.namespaces}
    assert names[6] == "ファイル" and names[14] == "Category" and names[0] == ""
    assert plan.siteinfo.case == "first-letter"
    assert plan.compression is Compression.BZIP2


def test_redirect_pages_keep_their_target(wikipedia):
    plan = plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"))
    redirects = {page.title: page.redirect for page in read_pages(plan) if page.redirect}
    assert len(redirects) == 100
    assert redirects["AccessibleComputing"] == "Computer accessibility"
    assert redirects["AndorrA"] == "Andorra"
    andorra = next(page for page in read_pages(plan) if page.title == "Andorra")
    assert (andorra.page_id, andorra.ns, andorra.redirect) == (600, 0, None)
    assert andorra.text.startswith("{{distinguish|Andora}}\n{{other uses}}")


def test_units_cut_the_dump_into_whole_pages(wikipedia):
    plan = plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"), pages_per_unit=50)
    assert [(unit.pages, unit.first_page) for unit in plan.units] == [(50, 0), (50, 50), (50, 100), (50, 150),
                                                                       (6, 200)]
    whole = titles(plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2")))
    # Any unit reads on its own, in any order.
    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(lambda unit: [p.title for p in read_unit(plan, unit)], reversed(plan.units)))
    assert [title for part in reversed(parts) for title in part] == whole


def test_limit_reads_the_first_pages(wikipedia):
    plan = plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"), pages_per_unit=3, limit=7)
    assert titles(plan) == ["AccessibleComputing", "Anarchism", "AfghanistanHistory", "AfghanistanGeography",
                            "AfghanistanPeople", "AfghanistanCommunications", "AfghanistanTransportations"]
    assert [unit.pages for unit in plan.units] == [3, 3, 1]


def test_truncated_dump_is_rejected_with_where_it_broke(wikipedia):
    path = str(wikipedia / "enwiki-2022-head-truncated.xml.bz2")
    with pytest.raises(DumpError) as error:
        plan_dump(path)
    message = str(error.value)
    assert path in message
    assert "truncated at byte 10532835 (no closing </mediawiki>) after 251 whole pages" in message
    assert "--allow-truncated" in message


def test_truncated_dump_keeps_whole_pages_when_allowed(wikipedia):
    plan = plan_dump(str(wikipedia / "enwiki-2022-head-truncated.xml.bz2"), allow_truncated=True)
    assert plan.truncation.pages_kept == 251 and plan.truncation.offset == 10532835
    pages = list(read_pages(plan))
    assert len(pages) == 251 and pages[-1].title == "Alexander Graham Bell"


def test_page_cut_in_the_middle(wikipedia):
    path = str(wikipedia / "multistream/jawiki-20220501-pages-articles-multistream.xml_head10000.txt")
    with pytest.raises(DumpError, match=r"truncated at byte 1245111 \(page 26 is cut off\) after 25 whole pages"):
        plan_dump(path)
    plan = plan_dump(path, allow_truncated=True)
    assert plan.compression is Compression.NONE
    pages = list(read_pages(plan))
    assert len(pages) == 25 and pages[0].title == "Wikipedia:アップロードログ/2004年4月"


def test_cut_bz2_file_names_the_file(wikipedia, tmp_path):
    cut = tmp_path / "cut.xml.bz2"
    cut.write_bytes((wikipedia / "enwiki-2016-sample.xml.bz2").read_bytes()[:1_000_000])
    with pytest.raises(DumpError, match=r"cut.xml.bz2: truncated at byte 3514242 \(bzip2 data ends or is corrupt "
                                        r"\(the compressed data ends before its end-of-stream marker\)\) after 142 whole"):
        plan_dump(str(cut))
    plan = plan_dump(str(cut), allow_truncated=True)
    pages = list(read_pages(plan))
    assert len(pages) == plan.pages == 142
    assert [p.title for p in pages] == titles(plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"),
                                                        limit=plan.pages))


def test_gzip_and_plain_xml_read_the_same_pages(wikipedia, tmp_path):
    source = wikipedia / "enwiki-2016-sample.xml.bz2"
    xml = tmp_path / "sample.xml"
    xml.write_bytes(bz2.decompress(source.read_bytes()))
    with open(xml, "rb") as raw, gzip.open(tmp_path / "sample.xml.gz", "wb") as packed:
        shutil.copyfileobj(raw, packed)
    expected = list(read_pages(plan_dump(str(source), pages_per_unit=40)))
    for path in (xml, tmp_path / "sample.xml.gz"):
        assert list(read_pages(plan_dump(str(path), pages_per_unit=40))) == expected


def compressed_copies(wikipedia, tmp_path) -> dict[str, bytes]:
    xml = bz2.decompress((wikipedia / "enwiki-2016-sample.xml.bz2").read_bytes())
    return {"sample.xml.xz": lzma.compress(xml, preset=1),
            # two frames, as a parallel compressor writes them
            "sample.xml.zst": (zstandard.ZstdCompressor(level=1).compress(xml[:2_000_000])
                               + zstandard.ZstdCompressor(level=1).compress(xml[2_000_000:]))}


def test_xz_and_zstd_dumps_read_the_same_pages(wikipedia, tmp_path):
    expected = list(read_pages(plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"), pages_per_unit=40)))
    for name, data in compressed_copies(wikipedia, tmp_path).items():
        (tmp_path / name).write_bytes(data)
        plan = plan_dump(str(tmp_path / name), pages_per_unit=40)
        assert plan.compression.value == name.rsplit(".", 1)[1].replace("zst", "zstd")
        assert list(read_pages(plan)) == expected


@pytest.mark.parametrize("name, kind", [("sample.xml.xz", "xz"), ("sample.xml.zst", "zstd")])
def test_truncated_xz_and_zstd_are_handled_like_truncated_bz2(wikipedia, tmp_path, name, kind):
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(compressed_copies(wikipedia, tmp_path)[name][:600_000])
    with pytest.raises(DumpError, match=rf"cut-{re.escape(name)}: truncated at byte \d+ \({kind} data ends or is "
                                        r"corrupt .*\) after \d+ whole pages; rerun with --allow-truncated"):
        plan_dump(str(cut))
    plan = plan_dump(str(cut), allow_truncated=True)
    pages = list(read_pages(plan))
    assert len(pages) == plan.pages > 10
    assert [p.title for p in pages] == titles(plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"),
                                                        limit=plan.pages))


@pytest.mark.parametrize("head, kind", [(b"7z\xbc\xaf\x27\x1c\x00\x04", "a 7z archive"),
                                        (b"PK\x03\x04\x14\x00", "a zip archive"),
                                        (b"\x89PNG\r\n\x1a\n", "a PNG image")])
def test_other_formats_are_refused_by_name(tmp_path, head, kind):
    path = tmp_path / "dump.xml.7z"
    path.write_bytes(head + bytes(range(256)) * 4)
    with pytest.raises(DumpError, match=rf"dump.xml.7z: {kind}, not a dump relxdata reads \(.xml, .xml.bz2 "
                                        r"\(multistream or not\), .xml.gz, .xml.xz and .xml.zst\)"):
        plan_dump(str(path))


def test_not_a_dump(tmp_path):
    path = tmp_path / "notes.xml"
    path.write_text("<notes><note>hi</note></notes>")
    with pytest.raises(DumpError, match="no <page> found"):
        plan_dump(str(path))


def test_real_multistream_index_with_colons_in_titles(wikipedia):
    entries = read_index(str(wikipedia / "multistream/jawiki-20220501-pages-articles-multistream-index.txt_head10000.txt"))
    assert len(entries) == 10000
    assert (entries[0].offset, entries[0].page_id, entries[0].title) == (702, 1, "Wikipedia:アップロードログ/2004年4月")
    streams = index_streams(entries)
    assert len(streams) == 100 and all(pages == 100 for _, pages in streams)
    assert streams[:2] == [(702, 100), (920496, 100)]


def test_complete_real_index_scale(wikipedia):
    entries = read_index(str(wikipedia / "multistream/jawiktionary-20210401-pages-articles-multistream-index.txt.bz2"))
    assert len(entries) == 296564
    assert len(index_streams(entries)) == 2966
    assert entries[-1].title == "preferences"


def test_multistream_built_from_a_real_sample_reads_in_parallel(wikipedia, tmp_path):
    source = str(wikipedia / "enwiki-2016-sample.xml.bz2")
    dump, index = str(tmp_path / "ms.xml.bz2"), str(tmp_path / "ms-index.txt.bz2")
    assert write_multistream(source, dump, index, pages_per_stream=100) == 206
    raw = open(dump, "rb").read()
    assert raw.count(b"BZh9") >= 4  # header, three page streams, footer
    plan = plan_dump(dump, index, pages_per_unit=100)
    assert plan.compression is Compression.MULTISTREAM
    assert [(unit.pages, unit.first_page) for unit in plan.units] == [(100, 0), (100, 100), (6, 200)]
    with ThreadPoolExecutor(3) as pool:
        parts = list(pool.map(lambda unit: list(read_unit(plan, unit)), plan.units))
    assert [page for part in parts for page in part] == list(read_pages(plan_dump(source)))
    limited = plan_dump(dump, index, pages_per_unit=100, limit=120)
    assert [unit.pages for unit in limited.units] == [100, 20]


def test_multistream_cut_at_the_end(wikipedia, tmp_path):
    dump, index = tmp_path / "ms.xml.bz2", tmp_path / "ms-index.txt.bz2"
    write_multistream(str(wikipedia / "enwiki-2016-sample.xml.bz2"), str(dump), str(index), pages_per_stream=100)
    dump.write_bytes(dump.read_bytes()[:-5000])
    with pytest.raises(DumpError, match=r"ms.xml.bz2: truncated at byte \d+ \(the last bz2 stream is cut off\)"):
        plan_dump(str(dump), str(index))
    plan = plan_dump(str(dump), str(index), allow_truncated=True)
    assert 200 <= plan.pages < 206 and len(list(read_pages(plan))) == plan.pages


def test_index_must_fit_the_dump(wikipedia, tmp_path):
    index = tmp_path / "index.txt"
    index.write_text("10:1:A\n99999999:2:B\n")
    with pytest.raises(DumpError, match="wrong index for this dump"):
        plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"), str(index))
    index.write_text("not an index line\n")
    with pytest.raises(DumpError, match="line 1 is not 'offset:page_id:title'"):
        plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"), str(index))


def test_export_schema_0_8(wikipedia, tmp_path):
    """No sample uses schema 0.8; rewrite the header of a real 0.9 export."""
    xml = bz2.decompress((wikipedia / "enwiki-redirect-sample.xml.bz2").read_bytes())
    assert b"export-0.9" in xml
    old = tmp_path / "old.xml"
    old.write_bytes(xml.replace(b"export-0.9", b"export-0.8").replace(b'version="0.9"', b'version="0.8"'))
    plan = plan_dump(str(old))
    assert plan.siteinfo.schema_version == "0.8"
    assert [(p.title, p.redirect) for p in read_pages(plan)][0] == ("AccessibleComputing", "Computer accessibility")


def copies_in(folder) -> list:
    return sorted(folder.glob("relxdata-xml-*"))


@pytest.mark.parametrize("name, pages_per_unit, limit", [("enwiki-2016-sample.xml.bz2", 7, None),
                                                         ("enwiki-2016-sample.xml.bz2", 40, 90),
                                                         ("jawiki-2025-head.xml.bz2", 25, None)])
def test_units_read_from_the_scans_copy_of_the_xml_are_the_same_bytes(wikipedia, tmp_path, name, pages_per_unit,
                                                                       limit):
    path = str(wikipedia / name)
    plain = plan_dump(path, pages_per_unit=pages_per_unit, limit=limit, parallelization=2)
    copied = plan_dump(path, pages_per_unit=pages_per_unit, limit=limit, parallelization=2, copy_xml_in=str(tmp_path))
    assert plain.xml_copy is None and copied.xml_copy is not None
    assert copied.units == plain.units and copied.pages == plain.pages
    # frames of 1 MiB: units cross them, and read from the middle of one to the middle of another
    assert len(copied.xml_copy.xml_offsets) > 3
    for unit in plain.units:
        assert read_unit_bytes(copied, unit) == read_unit_bytes(plain, unit)
    [folder] = copies_in(tmp_path)
    del copied
    gc.collect()
    assert not folder.exists()


def test_gzip_xz_and_zstd_dumps_are_copied_too_and_plain_xml_and_multistream_are_not(wikipedia, tmp_path):
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    for name, data in compressed_copies(wikipedia, tmp_path).items():
        (dumps / name).write_bytes(data)
    (dumps / "sample.xml.gz").write_bytes(gzip.compress(lzma.decompress((dumps / "sample.xml.xz").read_bytes())))
    expected = list(read_pages(plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"), pages_per_unit=40)))
    for name in ("sample.xml.gz", "sample.xml.xz", "sample.xml.zst"):
        plan = plan_dump(str(dumps / name), pages_per_unit=40, copy_xml_in=str(tmp_path))
        assert plan.xml_copy is not None and list(read_pages(plan)) == expected
    dump, index = str(dumps / "ms.xml.bz2"), str(dumps / "ms-index.txt.bz2")
    write_multistream(str(wikipedia / "enwiki-2016-sample.xml.bz2"), dump, index)
    assert plan_dump(dump, index, copy_xml_in=str(tmp_path)).xml_copy is None
    (dumps / "sample.xml").write_bytes(lzma.decompress((dumps / "sample.xml.xz").read_bytes()))
    assert plan_dump(str(dumps / "sample.xml"), copy_xml_in=str(tmp_path)).xml_copy is None


def test_no_copy_without_room_for_it_nor_of_a_damaged_dump(wikipedia, tmp_path, monkeypatch):
    cut = tmp_path / "cut.xml.bz2"
    cut.write_bytes((wikipedia / "enwiki-2016-sample.xml.bz2").read_bytes()[:1_000_000])
    plan = plan_dump(str(cut), allow_truncated=True, copy_xml_in=str(tmp_path))
    assert plan.xml_copy is None and len(list(read_pages(plan))) == 142
    assert not copies_in(tmp_path)  # the broken scan's copy was removed at once
    free = shutil.disk_usage(tmp_path).free
    monkeypatch.setattr(xml_copy, "FREE_SPACE_FACTOR", free // cut.stat().st_size + 1)
    assert plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"), copy_xml_in=str(tmp_path)).xml_copy is None


def test_a_scan_stopped_by_an_error_leaves_no_copy(wikipedia, tmp_path, monkeypatch):
    def interrupted(self, chunk):
        raise KeyboardInterrupt

    monkeypatch.setattr(xml_copy.XmlCopyWriter, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"), copy_xml_in=str(tmp_path))
    assert not copies_in(tmp_path)


def test_copies_left_by_ended_processes_are_removed_by_the_next_scan(wikipedia, tmp_path):
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"relxdata-xml-{int(ended.stdout)}-abcd"
    live = tmp_path / f"relxdata-xml-{os.getppid()}-efgh"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "dump.xml.zst-frames").write_bytes(b"x")
    plan = plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"), copy_xml_in=str(tmp_path))
    assert not stale.exists() and live.exists()
    assert copies_in(tmp_path) == sorted([live, Path(plan.xml_copy.path).parent])
    plan.xml_copy.remove()
    assert copies_in(tmp_path) == [live]
