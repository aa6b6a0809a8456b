import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relxdata import wikitext
from relxdata.titles import LinkKind, TitleRules
from relxdata.wikitext import Link, clean

EN = TitleRules.for_wiki("en")


def links(document):
    return [(link.start, link.end, link.target, link.anchor) for link in document.links]


def test_link_trail_stays_outside_the_anchor():
    document = clean("The [[Brazil]]ian team won.", EN)
    assert document.text == "The Brazilian team won."
    assert document.links == [Link(4, 10, "Brazil", "Brazil")]


def test_labels_markup_and_offsets():
    document = clean("'''[[Foo_bar|''bold'' label]]''' and [[AT&amp;T]] or [[foo%20baz|x]].", EN)
    assert document.text == "bold label and AT&T or x."
    assert links(document) == [(0, 10, "Foo bar", "bold label"), (15, 19, "AT&T", "AT&T"), (23, 24, "Foo baz", "x")]
    for link in document.links:
        assert document.text[link.start:link.end] == link.anchor


def test_fragment_is_kept_aside():
    document = clean("See [[Berlin#History|the history of Berlin]].", EN)
    assert document.links == [Link(4, 25, "Berlin", "the history of Berlin", "History")]


def test_references_templates_tables_comments_and_magic_words_are_removed():
    wikitext = ("__NOTOC__{{Infobox country|capital=[[Paris]]}}\n'''France''' ({{IPA|fʁɑ̃s}}; x) is a country."
                "<ref>{{cite web|url=http://a.org|title=[[Ref link]]}}</ref><!-- hidden [[Comment link]] -->\n"
                "{| class=\"wikitable\"\n| [[Cell link]]\n|}\n<math>\\frac{{a}}{b}</math>It borders [[Spain]].")
    document = clean(wikitext, EN)
    assert document.text == "France (x) is a country.\nIt borders Spain."
    assert links(document) == [(36, 41, "Spain", "Spain")]


def test_empty_parentheses_left_by_templates_are_tidied():
    document = clean("'''Andorra''' ({{IPAc-en|æ}}; {{IPA-ca|ə}}, {{IPA-ca|a}}), officially [[Andorra la Vella|x]].",
                     EN)
    assert document.text == "Andorra, officially x."
    assert links(document) == [(20, 21, "Andorra la Vella", "x")]


@pytest.mark.parametrize("lang, wikitext", [
    ("en", "[[File:A.jpg|thumb|A [[caption]] link]][[Image:B.png]]"),
    ("de", "[[Datei:A.jpg|mini|Ein [[Bild]]]][[Bild:B.png]]"),
    ("fr", "[[Fichier:A.jpg|vignette|Une [[légende]]]]"),
    ("es", "[[Archivo:A.jpg|miniaturadeimagen|Una [[leyenda]]]][[Imagen:B.png]]"),
    ("tr", "[[Dosya:A.jpg|küçükresim|Bir [[resim]]]][[Resim:B.png]]"),
    ("ja", "[[ファイル:A.jpg|thumb|説明 [[画像]]]][[画像:B.png]]"),
])
def test_files_in_every_language_alias_vanish_with_their_captions(lang, wikitext):
    document = clean(f"Text {wikitext}stays.", TitleRules.for_wiki(lang))
    assert document.text == "Text stays."
    assert document.links == []
    assert document.dropped_links["file"] >= 1


def test_categories_interlanguage_and_other_links():
    wikitext = ("A [[:Category:Rivers|river list]], [[wikt:word|a word]], [[#Notes|notes]], [[Help:Editing|help]]."
                "\n[[Category:Rivers]]\n[[de:Fluss]]\n[[fr:Rivière]]")
    document = clean(wikitext, EN)
    assert document.text == "A river list, a word, notes, help."
    assert document.links == []
    assert dict(document.dropped_links) == {"other_namespace": 2, "interwiki": 1, "section_only": 1, "category": 1,
                                            "interlanguage": 2}


def test_sections_lists_and_paragraphs_keep_their_text():
    wikitext = "Intro [[A]].\n\n== History ==\nFirst para.\n* item [[b]]\n# step two\n; term\n: definition"
    document = clean(wikitext, EN)
    assert document.text.split("\n") == ["Intro A.", "History", "First para.", "item b", "step two", "term",
                                         "definition"]
    assert links(document) == [(6, 7, "A", "A"), (34, 35, "B", "b")]


def test_inline_templates_that_carry_prose():
    document = clean("In {{nowrap|[[New York City]]}} it is {{lang|fr|''très''}} far, {{convert|10|km}}.", EN)
    assert document.text == "In New York City it is très far, 10 km."
    assert links(document) == [(3, 16, "New York City", "New York City")]


def test_external_links_keep_labels_only():
    document = clean("See [http://example.org the site] or http://example.org/bare here.", EN)
    assert document.text == "See the site or here."


def test_title_rules():
    assert EN.normalize("foo_bar  baz") == "Foo bar baz"
    assert EN.normalize("caf%C3%A9 &amp; co") == "Café & co"
    assert TitleRules.for_wiki("tr").normalize("istanbul") == "İstanbul"
    assert TitleRules.for_wiki("en", case="case-sensitive").normalize("iPhone") == "iPhone"
    assert EN.classify(":Category:Rivers").kind is LinkKind.OTHER_NAMESPACE
    assert EN.classify("Star Wars: Episode IV").kind is LinkKind.ARTICLE
    assert EN.classify("fr:Paris").kind is LinkKind.INTERLANGUAGE
    assert EN.classify(":fr:Paris").kind is LinkKind.INTERWIKI
    de = TitleRules.for_wiki("de", namespace_names=[("Benutzer", 2)])
    assert de.classify("Benutzer:Foo").kind is LinkKind.OTHER_NAMESPACE
    assert de.classify("kategorie:Berlin").kind is LinkKind.CATEGORY


def test_real_article_andorra(wikipedia):
    from relxdata.dumps import plan_dump, read_pages

    plan = plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"))
    page = next(page for page in read_pages(plan) if page.title == "Andorra")
    rules = TitleRules.for_wiki("en", plan.siteinfo.case, [(ns.name, ns.key) for ns in plan.siteinfo.namespaces])
    document = clean(page.text, rules)
    assert document.text.startswith("Andorra, officially the Principality of Andorra (Principat d'Andorra), also "
                                    "called the Principality of the Valleys of Andorra")
    assert all(document.text[link.start:link.end] == link.anchor for link in document.links)
    assert len(document.links) == 253
    assert document.dropped_links["file"] == 12 and document.dropped_links["category"] == 22
    assert "thumb" not in document.text and "{{" not in document.text and "<ref" not in document.text


def test_labels_without_visible_text_are_not_links():
    document = clean("A [[Foo| ]] b [[Bar|<span> </span>]] c [[Baz|{{template}}]].", EN)
    assert document.text == "A b c."
    assert document.links == []
    assert document.dropped_links["empty_anchor"] == 3


def test_the_bold_names_of_the_lead():
    document = clean("{{Infobox city|name='''Not a name'''}}\n'''Berlin''' ({{IPA|bɛʁˈliːn}}) is the capital of "
                     "[[Germany]]; officially '''the State of Berlin''', with '''[[Brandenburg|Brandenburger]] Tor'''"
                     " and '''''Spree-Athen'''''.\n'''broken bold\nends with its line.\n== History ==\n"
                     "'''Not the lead''' either.", EN)
    assert document.lead_names == ["Berlin", "the State of Berlin", "Brandenburger Tor", "Spree-Athen", "broken bold"]
    assert links(document) == [(25, 32, "Germany", "Germany"), (71, 84, "Brandenburg", "Brandenburger")]
    assert document.text.startswith("Berlin is the capital of Germany; officially the State of Berlin, with "
                                    "Brandenburger Tor and Spree-Athen.")


def test_a_lead_without_bold_names_none():
    assert clean("A plain lead with ''italics'' only.\n== Section ==\n'''Bold''' later.", EN).lead_names == []


@pytest.mark.parametrize("wikitext", [
    "Voor. [[Lêer:Foo.jpg|duimnael|links|Die stad]] Na.",      # af: Lêer, unknown to English siteinfo
    "Voor. [[ስዕል:Bar.png|250px|caption]] Na.",                 # am
    "Voor. [[Imachen:Mapa.svg]] Na.",                           # an
    "Voor. [[Ficheru:Mapa de Asturies.png|eta|250px|<center>Mapa</center>]] Na.",  # ast
    "Voor. [[Файл:Y.jpg|thumb|upright=1.2|Подпись]] Na.",        # ru/uk on a wiki without the alias
    "Voor. [[Unknown:Diagram|frameless|alt=A diagram]] Na.",    # no extension, but image options
])
def test_file_links_of_unknown_aliases_are_caught_by_their_shape(wikitext):
    document = clean(wikitext, EN)
    assert document.text == "Voor. Na."
    assert document.links == [] and document.dropped_links == {"file_by_shape": 1}


def test_prefixed_article_titles_are_not_files():
    document = clean("[[Star Trek: The Next Generation|TNG]] and [[Mission: Impossible 2.5|M:I]].", EN)
    assert [link.target for link in document.links] == ["Star Trek: The Next Generation", "Mission: Impossible 2.5"]


# The cleaning and tidying patterns in the plain form they had before they were written to start with a
# character class (for speed): both must match the same spans in any text.
PLAIN_TIDYING = {
    "_INLINE_SPACES": re.compile(r"[ \t\u00a0\u2009\u200b]{2,}|[\t\u00a0\u2009\u200b]"),
    "_EMPTY_PARENTHESES": re.compile(r"\([ ,;:]*\)|(?<=\()[ ,;:]+"),
    "_SPACE_BEFORE_PUNCTUATION": re.compile(r" +(?=[,.;:!?](?: |$))", re.M),
    "_LINE_BREAKS": re.compile(r" +\n\s*|\n\s+"),
    "_INDENTED_TABLE": re.compile(r"^:+[ \t]*(?=\{\|)", re.M),
}


@settings(max_examples=3000, derandomize=True, deadline=None)
@given(st.text(alphabet=" \t\n\u00a0\u2009\u200b(),;:.!?ab{|", max_size=40))
def test_tidying_patterns_match_where_their_plain_forms_do(text):
    for name, plain in PLAIN_TIDYING.items():
        fast = getattr(wikitext, name)
        assert [m.span() for m in fast.finditer(text)] == [m.span() for m in plain.finditer(text)], name
