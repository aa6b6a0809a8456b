import bz2
import gzip
import io
import pickle

import pytest

from relxdata import sqldump
from relxdata.errors import RelxdataError
from relxdata.sqldump import PageProp, PageRow, RedirectRow, SqlDumpError

# mtwiki-20160111 row counts, verified two other ways: a character-level state machine (no
# regular expressions) that counts the top-level parentheses of every INSERT line after
# " VALUES ", and `grep -o "),(" | wc -l` plus one per INSERT statement (page: 14659 + 2 INSERTs,
# redirect: 2666 + 1 INSERT; no title contains "),(").
MTWIKI_PAGES = 14661
MTWIKI_REDIRECTS = 2667

HEADER = "-- MySQL dump 10.13  Distrib 5.5.44, for debian-linux-gnu (x86_64)\n--\n-- Host: db  Database: xxwiki\n"
FOOTER = "/*!40000 ALTER TABLE `{0}` ENABLE KEYS */;\n\n-- Dump completed on 2016-01-12  6:58:29\n"
# page_props as older dumps wrote it, without pp_sortkey; no real dump of it is at hand.
OLD_PAGE_PROPS = """
DROP TABLE IF EXISTS `page_props`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8 */;
CREATE TABLE `page_props` (
  `pp_page` int(11) NOT NULL,
  `pp_propname` varbinary(60) NOT NULL,
  `pp_value` blob NOT NULL,
  UNIQUE KEY `pp_page_propname` (`pp_page`,`pp_propname`),
  UNIQUE KEY `pp_propname_page` (`pp_propname`,`pp_page`)
) ENGINE=InnoDB DEFAULT CHARSET=binary;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `page_props` DISABLE KEYS */;
INSERT INTO `page_props` VALUES (1,'wikibase_item','Q5296'),(12,'disambiguation',''),(12,'wikibase_item','Q224'),\
(30,'defaultsort','Malta, L-'),(30,'wikibase_item','Q233');
"""


def mysqldump(table: str, body: str) -> str:
    return HEADER + body + FOOTER.format(table)


def create_table(table: str, *columns: str) -> str:
    lines = [f"  `{column}` varbinary(255) NOT NULL" for column in columns]
    return f"CREATE TABLE `{table}` (\n" + ",\n".join(lines) + "\n) ENGINE=InnoDB DEFAULT CHARSET=binary;\n"


def where(dump: str | bytes, offset: int) -> str:
    """How an error names a byte offset of a dump (str dumps here are ASCII: characters are bytes)."""
    dump = dump.encode("utf-8") if isinstance(dump, str) else dump
    line = dump.count(b"\n", 0, offset) + 1
    return f"line {line}, byte {offset} of the decompressed dump"


def write(path, text: str | bytes):
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


@pytest.fixture(scope="module")
def rmwiki(shared_data):
    return shared_data / "sql" / "2024-schema" / "rmwiki" / "20240301"


@pytest.fixture(scope="module")
def mtwiki(shared_data):
    return shared_data / "sql" / "2016-schema"


# --- current schema -------------------------------------------------------------------------------

def test_rmwiki_page_props_all_columns(rmwiki):
    columns, rows = sqldump.read_table(str(rmwiki / "rmwiki-20240301-page_props.sql.gz"))
    assert columns == ["pp_page", "pp_propname", "pp_value", "pp_sortkey"]
    rows = list(rows)
    assert rows == [
        (1, "wikibase_item", "Q5296", None),
        (799, "page_image_free", "Karte_Gemeinde_Zürich_2007.png", None),
        (799, "wikibase_item", "Q72", None),
        (3824, "page_image_free", "Karte_Gemeinde_Obergesteln_2007.png", None),
        (3824, "wikibase_item", "Q662541", None),
        (14564, "unexpectedUnconnectedPage", "-10", -10),
    ]
    # pp_sortkey is a float column, but values take their type from how they are written.
    assert type(rows[-1][3]) is int


def test_rmwiki_page_props_wanted_names(rmwiki):
    path = str(rmwiki / "rmwiki-20240301-page_props.sql.gz")
    assert list(sqldump.read_page_props(path)) == [
        PageProp(1, "wikibase_item", "Q5296"), PageProp(799, "wikibase_item", "Q72"),
        PageProp(3824, "wikibase_item", "Q662541"),
    ]
    assert list(sqldump.read_page_props(path, frozenset({"unexpectedUnconnectedPage"}))) == [
        PageProp(14564, "unexpectedUnconnectedPage", "-10"),
    ]


def test_rmwiki_pages_one_row_per_line(rmwiki):
    assert list(sqldump.read_pages(str(rmwiki / "rmwiki-20240301-page.sql.gz"))) == [
        PageRow(1, 4, "Pagina principala", False),
        PageRow(799, 0, "Turitg", False),
        PageRow(811, 0, "Main Page", True),
        PageRow(3824, 0, "Obergesteln", False),
        PageRow(4108, 0, "Zürich", True),
        PageRow(6857, 2, "Username", True),
        PageRow(14564, 10, "Pajais Federativ Austria", False),
    ]


def test_rmwiki_redirects(rmwiki):
    assert list(sqldump.read_redirects(str(rmwiki / "rmwiki-20240301-redirect.sql.gz"))) == [
        RedirectRow(811, 4, "Pagina principala", "", ""),
        RedirectRow(4108, 0, "Turitg", "", ""),
        RedirectRow(6857, 0, "it:user:Username", "b", ""),
    ]


def test_several_insert_statements(shared_data):
    path = str(shared_data / "sql" / "2024-schema" / "multiple-inserts.sql")
    assert list(sqldump.read_page_props(path)) == [PageProp(n, "wikibase_item", f"Q{n}") for n in (1, 2, 3, 4)]


def test_empty_table(shared_data):
    path = shared_data / "sql" / "2024-schema" / "loginwiki" / "20240501" / "loginwiki-20240501-page_props.sql.gz"
    columns, rows = sqldump.read_table(str(path))
    assert columns == ["pp_page", "pp_propname", "pp_value", "pp_sortkey"]
    assert list(rows) == []


def test_columns_in_the_order_asked(rmwiki):
    columns, rows = sqldump.read_table(str(rmwiki / "rmwiki-20240301-page.sql.gz"), "page",
                                       ["page_title", "page_id"])
    assert columns == ["page_title", "page_id"]
    assert next(rows) == ("Pagina_principala", 1)
    rows.close()
    _, rows = sqldump.read_table(str(rmwiki / "rmwiki-20240301-page.sql.gz"), columns=["page_random"])
    assert next(rows) == (0.622781966637,)
    rows.close()


# --- 2016 schema: complete official dumps ----------------------------------------------------------

def test_mtwiki_pages(mtwiki):
    pages = list(sqldump.read_pages(str(mtwiki / "mtwiki-20160111-page.sql.gz")))
    assert len(pages) == MTWIKI_PAGES
    assert pages[0] == PageRow(1, 0, "Il-Paġna prinċipali", False)
    assert pages[-1] == PageRow(23272, 0, "American University of Malta", True)
    by_id = {page.page_id: page for page in pages}
    assert by_id[17223] == PageRow(17223, 0, "4'33\"", True)  # '4\'33\"'
    assert by_id[9942] == PageRow(9942, 0, 'Ernesto "Che" Guevara', True)  # 'Ernesto_\"Che\"_Guevara'
    assert by_id[956] == PageRow(956, 4, "Lista ta' portals", False)  # 'Lista_ta\'_portals'
    # A title that holds backslashes itself: 'Broken/G\\xc4\\xa7ajnuna\\x3aKif_timmodifika_artiklu'.
    assert by_id[1559] == PageRow(1559, 1, r"Broken/G\xc4\xa7ajnuna\x3aKif timmodifika artiklu", False)


def test_mtwiki_redirects(mtwiki):
    redirects = list(sqldump.read_redirects(str(mtwiki / "mtwiki-20160111-redirect.sql.gz")))
    assert len(redirects) == MTWIKI_REDIRECTS
    assert redirects[0] == RedirectRow(2, 0, "Utilisateur:Alibaba", "fr", "")
    assert redirects[-1] == RedirectRow(23272, 0, "Università Amerikana ta' Malta", "", "")
    by_id = {row.page_id: row for row in redirects}
    assert by_id[970] == RedirectRow(970, 0, "Iż-Żurrieq", "", "")
    assert by_id[8786] == RedirectRow(8786, 0, "Kaptan (futbol)", "", "Viċi-kaptan")
    assert sum(1 for row in redirects if row.interwiki) == 23
    assert sum(1 for row in redirects if row.fragment) == 7


def test_mtwiki_redirect_rows_are_the_redirect_pages(mtwiki):
    """Two files read independently agree: every page flagged as a redirect has a redirect row."""
    pages = sqldump.read_pages(str(mtwiki / "mtwiki-20160111-page.sql.gz"))
    redirects = sqldump.read_redirects(str(mtwiki / "mtwiki-20160111-redirect.sql.gz"))
    redirect_pages = {page.page_id for page in pages if page.is_redirect}
    assert len(redirect_pages) == MTWIKI_REDIRECTS
    assert redirect_pages == {row.page_id for row in redirects}


def test_mtwiki_pagelinks(mtwiki):
    columns, rows = sqldump.read_table(str(mtwiki / "mtwiki-20160111-pagelinks.sql.gz"), "pagelinks")
    assert columns == ["pl_from", "pl_namespace", "pl_title", "pl_from_namespace"]
    assert next(rows) == (17536, 0, '"Fast"_Eddie_Clarke', 0)
    assert next(rows) == (15421, 0, "''For_Whom_The_Bell_Tolls''", 0)
    # 230,677 rows, counted by the same state machine as the page and redirect rows.
    assert 2 + sum(1 for _ in rows) == 230677


# --- old schema and hand-written dumps -------------------------------------------------------------

def test_three_column_page_props(tmp_path):
    path = write(tmp_path / "xxwiki-20160111-page_props.sql", mysqldump("page_props", OLD_PAGE_PROPS))
    assert list(sqldump.read_page_props(path)) == [
        PageProp(1, "wikibase_item", "Q5296"), PageProp(12, "disambiguation", ""),
        PageProp(12, "wikibase_item", "Q224"), PageProp(30, "wikibase_item", "Q233"),
    ]


def test_redirect_without_interwiki_or_fragment_is_null(tmp_path):
    body = (create_table("redirect", "rd_from", "rd_namespace", "rd_title", "rd_interwiki", "rd_fragment")
            + "INSERT INTO `redirect` VALUES (10,0,'Repubblika_ta\\'_Malta',NULL,NULL),"
            + "(11,0,'Ġgantija',NULL,'Storja');\n")
    path = write(tmp_path / "redirect.sql", mysqldump("redirect", body))
    assert list(sqldump.read_redirects(path)) == [
        RedirectRow(10, 0, "Repubblika ta' Malta", "", ""), RedirectRow(11, 0, "Ġgantija", "", "Storja"),
    ]


def test_last_line_without_newline(tmp_path):
    path = write(tmp_path / "page_props.sql", mysqldump("page_props", OLD_PAGE_PROPS).rstrip("\n"))
    assert [prop.page_id for prop in sqldump.read_page_props(path)] == [1, 12, 12, 30]


@pytest.mark.parametrize("literal, value", [
    (rb"'ta\'_Malta'", "ta'_Malta"),
    (rb"'ta''_Malta'", "ta'_Malta"),
    (rb"'\"Che\"'", '"Che"'),
    (rb"'back\\slash'", "back\\slash"),
    (rb"'a\nb\rc\td'", "a\nb\rc\td"),
    (rb"'nul\0sub\Z'", "nul\0sub\x1a"),
    (rb"'\%\_'", "\\%\\_"),
    (rb"'\q'", "q"),
    (rb"'\\\''", "\\'"),
    (rb"''", ""),
    ("'Ġebla;(x),(y)'".encode("utf-8"), "Ġebla;(x),(y)"),
    (b"'cut\xc4'", "cut\ufffd"),
    (b"NULL", None),
    (b"-10", -10),
    (b"0.622781966637", 0.622781966637),
    (b"1.5e-05", 1.5e-05),
])
def test_values_and_escapes(tmp_path, literal, value):
    dump = create_table("t", "a", "b").encode() + b"INSERT INTO `t` VALUES (7," + literal + b"),(8,'x');\n"
    _, rows = sqldump.read_table(write(tmp_path / "t.sql", dump))
    first, second = rows
    assert first == (7, value) and type(first[1]) is type(value)
    assert second == (8, "x")


def test_rows_cut_across_reads(mtwiki, monkeypatch):
    path = str(mtwiki / "mtwiki-20160111-redirect.sql.gz")
    whole = list(sqldump.read_redirects(path))
    monkeypatch.setattr(sqldump, "CHUNK", 7)
    assert list(sqldump.read_redirects(path)) == whole


def test_gzip_bzip2_and_plain_read_the_same(mtwiki, tmp_path):
    original = mtwiki / "mtwiki-20160111-redirect.sql.gz"
    text = gzip.decompress(original.read_bytes())
    # Names that lie about the compression: it is told from the first bytes.
    plain = write(tmp_path / "redirect.sql.gz", text)
    bzip2 = write(tmp_path / "redirect.sql", bz2.compress(text))
    expected = list(sqldump.read_redirects(str(original)))
    assert len(expected) == MTWIKI_REDIRECTS
    assert list(sqldump.read_redirects(plain)) == expected
    assert list(sqldump.read_redirects(bzip2)) == expected


def test_opener_reads_from_elsewhere(rmwiki):
    stored = {"gs://bucket/rm/redirect.sql.gz": (rmwiki / "rmwiki-20240301-redirect.sql.gz").read_bytes()}
    opened = []

    def open_stored(path):
        opened.append(path)
        return io.BytesIO(stored[path])

    rows = list(sqldump.read_redirects("gs://bucket/rm/redirect.sql.gz", open_stored))
    assert [row.page_id for row in rows] == [811, 4108, 6857]
    assert set(opened) == {"gs://bucket/rm/redirect.sql.gz"}


def test_records_pickle_for_beam():
    for record in (PageProp(1, "wikibase_item", "Q1"), RedirectRow(2, 0, "A", "", "s"), PageRow(3, 0, "B", True)):
        assert pickle.loads(pickle.dumps(record)) == record


# --- errors ---------------------------------------------------------------------------------------

def test_statement_cut_mid_row(mtwiki, tmp_path):
    text = gzip.decompress((mtwiki / "mtwiki-20160111-page.sql.gz").read_bytes())
    cut = 800_000
    path = write(tmp_path / "page.sql", text[:cut])
    row_start = text.rindex(b"),(", 0, cut) + 2
    with pytest.raises(SqlDumpError) as error:
        list(sqldump.read_pages(path))
    assert str(error.value) == f"{path}: a truncated or malformed row at {where(text, row_start)}"
    assert isinstance(error.value, RelxdataError)


def test_truncated_gzip(mtwiki, tmp_path):
    data = (mtwiki / "mtwiki-20160111-page.sql.gz").read_bytes()
    path = write(tmp_path / "page.sql.gz", data[: len(data) // 2])
    with pytest.raises(SqlDumpError, match=f"^{path}: the compressed data is truncated or corrupt after byte"):
        list(sqldump.read_pages(path))


def test_truncated_bzip2(mtwiki, tmp_path):
    text = gzip.decompress((mtwiki / "mtwiki-20160111-redirect.sql.gz").read_bytes())
    data = bz2.compress(text)
    path = write(tmp_path / "redirect.sql.bz2", data[:-10])
    with pytest.raises(SqlDumpError, match=f"^{path}: the compressed data is truncated or corrupt"):
        list(sqldump.read_redirects(path))


def test_mysqldump_cut_between_statements(mtwiki, tmp_path):
    """A cut after a whole INSERT parses; only the missing closing comment tells rows are lost."""
    text = gzip.decompress((mtwiki / "mtwiki-20160111-page.sql.gz").read_bytes())
    first_insert_end = text.index(b";\n", text.index(b"INSERT INTO")) + 2
    path = write(tmp_path / "page.sql", text[:first_insert_end])
    with pytest.raises(SqlDumpError, match="ends without mysqldump's closing '-- Dump completed' line"):
        list(sqldump.read_pages(path))


def test_wrong_table(rmwiki):
    path = str(rmwiki / "rmwiki-20240301-page.sql.gz")
    with pytest.raises(SqlDumpError, match=r"rmwiki-20240301-page\.sql\.gz: this is a dump of table `page`, "
                                           r"not `page_props`$"):
        next(sqldump.read_page_props(path))


def test_missing_column(rmwiki):
    path = str(rmwiki / "rmwiki-20240301-redirect.sql.gz")
    with pytest.raises(SqlDumpError, match="table `redirect` has no column rd_to "):
        sqldump.read_table(path, "redirect", ["rd_from", "rd_to"])


def test_row_of_the_wrong_width(tmp_path):
    dump = create_table("t", "a", "b") + "INSERT INTO `t` VALUES (1,'x'),(2,'y','z');\n"
    path = write(tmp_path / "t.sql", dump)
    _, rows = sqldump.read_table(path)
    assert next(rows) == (1, "x")
    with pytest.raises(SqlDumpError) as error:
        next(rows)
    place = where(dump, dump.index("(2,"))
    assert str(error.value) == f"{path}: a row of 3 values in a table of 2 columns at {place}"


def test_insert_into_another_table(tmp_path):
    dump = create_table("t", "a") + "INSERT INTO `t` VALUES (1);\nINSERT INTO `u` VALUES (2);\n"
    path = write(tmp_path / "t.sql", dump)
    _, rows = sqldump.read_table(path)
    assert next(rows) == (1,)
    with pytest.raises(SqlDumpError) as error:
        next(rows)
    place = where(dump, dump.index("INSERT INTO `u`"))
    assert str(error.value) == f"{path}: an INSERT INTO `u` in a dump of `t` at {place}"


def test_insert_with_column_names_is_refused_not_skipped(tmp_path):
    dump = create_table("t", "a") + "INSERT INTO `t` (`a`) VALUES (1);\n"
    path = write(tmp_path / "t.sql", dump)
    _, rows = sqldump.read_table(path)
    with pytest.raises(SqlDumpError) as error:
        list(rows)
    assert str(error.value) == f"{path}: a truncated or malformed statement at {where(dump, dump.index('INSERT'))}"


def test_not_a_sql_dump(shared_data):
    path = str(shared_data / "wikipedia" / "enwiki-redirect-sample.xml.bz2")
    with pytest.raises(SqlDumpError, match="not a MySQL table dump: it starts with b'<mediawiki"):
        sqldump.read_table(path)


def test_two_tables_in_one_dump(tmp_path):
    dump = create_table("t", "a") + "INSERT INTO `t` VALUES (1);\n" + create_table("u", "b")
    path = write(tmp_path / "t.sql", dump)
    _, rows = sqldump.read_table(path)
    assert next(rows) == (1,)
    with pytest.raises(SqlDumpError) as error:
        next(rows)
    place = where(dump, dump.index("CREATE TABLE `u`"))
    assert str(error.value) == f"{path}: a second CREATE TABLE in a dump of `t` at {place}"


def test_unreadable_data_is_not_buffered_without_end(mtwiki, tmp_path, monkeypatch):
    text = gzip.decompress((mtwiki / "mtwiki-20160111-page.sql.gz").read_bytes())
    comma = text.index(b"),(", text.index(b"INSERT INTO")) + 1
    path = write(tmp_path / "page.sql", text[:comma] + b"x" + text[comma + 1:])
    monkeypatch.setattr(sqldump, "CHUNK", 1 << 16)
    monkeypatch.setattr(sqldump, "MAX_UNPARSED", 1 << 20)
    with pytest.raises(SqlDumpError) as error:
        list(sqldump.read_pages(path))
    first_row = where(text, text.index(b"(1,0,"))
    assert str(error.value) == f"{path}: no complete statement or row within 1 MiB at {first_row}"
