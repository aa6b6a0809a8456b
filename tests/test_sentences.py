import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relxdata.errors import RelxdataError
from relxdata.sentences import SentenceSplitter, _condense
from relxdata.wikitext import Document, Link


def test_links_land_in_their_sentence_with_relative_offsets():
    text = "Berlin is the capital of Germany. It lies on the Spree.\nParis is in France"
    document = Document(text, [Link(0, 6, "Berlin", "Berlin"), Link(25, 32, "Germany", "Germany"),
                               Link(49, 54, "Spree", "Spree"), Link(56, 61, "Paris", "Paris"),
                               Link(68, 74, "France", "France")])
    sentences, dropped = SentenceSplitter("en").split(document)
    assert [s.text for s in sentences] == ["Berlin is the capital of Germany.", "It lies on the Spree.",
                                           "Paris is in France"]
    assert [[(l.start, l.end, l.anchor) for l in s.links] for s in sentences] == [
        [(0, 6, "Berlin"), (25, 32, "Germany")], [(15, 20, "Spree")], [(0, 5, "Paris"), (12, 18, "France")]]
    assert [s.index for s in sentences] == [0, 1, 2]
    assert not dropped


def test_a_link_cut_by_a_sentence_boundary_is_counted_and_dropped():
    text = "He wrote Hello. World and more. Then he left."
    document = Document(text, [Link(9, 21, "Hello. World", "Hello. World"), Link(37, 44, "Left", "left.")])
    sentences, dropped = SentenceSplitter("en").split(document)
    assert [s.text for s in sentences] == ["He wrote Hello.", "World and more.", "Then he left."]
    assert dropped["crosses_sentence"] == 1
    assert [[l.anchor for l in s.links] for s in sentences] == [[], [], ["left."]]


def test_abbreviations_do_not_end_sentences():
    sentences, _ = SentenceSplitter("en").split(Document("Created in A.D. 988 by Dr. Smith. It grew.", []))
    assert [s.text for s in sentences] == ["Created in A.D. 988 by Dr. Smith.", "It grew."]


def test_japanese_falls_back_to_the_multi_language_class_and_splits_on_full_stops():
    splitter = SentenceSplitter("ja")
    assert splitter.info.used == "xx" and "SudachiPy" in splitter.info.fallback_reason
    text = "東京は日本の首都である。大阪は西日本の中心都市だ。京都には寺が多い。"
    sentences, _ = splitter.split(Document(text, [Link(0, 2, "東京", "東京"), Link(12, 14, "大阪", "大阪")]))
    assert [s.text for s in sentences] == ["東京は日本の首都である。", "大阪は西日本の中心都市だ。", "京都には寺が多い。"]
    assert [(l.start, l.end) for l in sentences[1].links] == [(0, 2)]


@pytest.mark.parametrize("lang, used", [("de", "de"), ("tr", "tr"), ("zh", "zh"), ("ko", "xx"), ("th", "xx"),
                                        ("vi", "xx"), ("als", "xx")])
def test_every_language_gets_a_splitter(lang, used):
    splitter = SentenceSplitter(lang)
    assert splitter.info.used == used
    sentences, _ = splitter.split(Document("Das ist gut. Noch ein Satz.", []))
    assert [s.text for s in sentences] == ["Das ist gut.", "Noch ein Satz."]


def test_unknown_language_and_missing_model_are_user_errors():
    with pytest.raises(RelxdataError, match="unknown Wikipedia language code 'english'"):
        SentenceSplitter("english")
    with pytest.raises(RelxdataError, match="spaCy pipeline 'en_core_web_nonexistent' is not installed"):
        SentenceSplitter("en", "en_core_web_nonexistent")


def test_long_documents_are_split_in_chunks_at_line_breaks():
    splitter = SentenceSplitter("en")
    splitter.nlp.max_length = 40
    paragraphs = [f"Paragraph {n} has words. It ends here." for n in range(5)]
    text = "\n".join(paragraphs)
    start = text.index("Paragraph 3")
    sentences, _ = splitter.split(Document(text, [Link(start, start + 9, "Paragraph", "Paragraph")]))
    assert len(sentences) == 10
    assert sentences[6].text == "Paragraph 3 has words." and sentences[6].links[0].start == 0


REAL_SAMPLES = [("en", "enwiki-2016-sample.xml.bz2"), ("ja", "jawiki-2025-head.xml.bz2"),
                ("de", "minidumps/dewiki.xml.bz2"), ("fr", "minidumps/frwiki.xml.bz2"),
                ("es", "minidumps/eswiki.xml.bz2"), ("tr", "minidumps/trwiki.xml.bz2")]


def clean_articles(path, lang: str, limit: int = 60):
    from relxdata.dumps import plan_dump, read_pages
    from relxdata.titles import TitleRules
    from relxdata.wikitext import clean

    plan = plan_dump(str(path), limit=limit)
    rules = TitleRules.for_wiki(lang, plan.siteinfo.case, [(ns.name, ns.key) for ns in plan.siteinfo.namespaces])
    documents = [clean(page.text, rules) for page in read_pages(plan) if page.ns == 0 and not page.redirect]
    assert documents
    return documents


@pytest.mark.parametrize("lang, name", REAL_SAMPLES)
def test_condensed_text_gives_exactly_spacys_sentences(wikipedia, lang, name):
    """The fast path feeds the sentencizer condensed text; it must find the same boundaries."""
    fast, plain = SentenceSplitter(lang), SentenceSplitter(lang)
    plain.condensable = None
    for document in clean_articles(wikipedia / name, lang):
        assert fast.split(document) == plain.split(document)


def test_characters_beyond_the_basic_plane_cut_condensed_runs_and_keep_the_sentences():
    """An astral sentence end (Brahmi danda U+11047) and an astral letter inside runs."""
    text = "Words before 𑁇 words after𑁇 Then 𝐀lpha and emoji 😀 here. 𝐁eta runs on 𑁇𑁇 end."
    fast, plain = SentenceSplitter("en"), SentenceSplitter("en")
    plain.condensable = None
    condensed, _ = _condense(text, fast.condensable)
    assert condensed == "x 𑁇 x after𑁇 x x 😀 here. x 𑁇𑁇 end."
    sentences, _ = fast.split(Document(text, []))
    assert sentences == plain.split(Document(text, []))[0]
    assert [s.text for s in sentences] == ["Words before 𑁇", "words after𑁇 Then 𝐀lpha and emoji 😀 here.",
                                           "𝐁eta runs on 𑁇𑁇 end."]


@pytest.fixture(scope="module")
def fast_and_plain() -> tuple[SentenceSplitter, SentenceSplitter]:
    fast, plain = SentenceSplitter("en"), SentenceSplitter("en")
    plain.condensable = None
    return fast, plain


@settings(max_examples=1500, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(["Word", "word", "3", "U.S.", "e.g.", "Dr.", ".", "!", "?", "?!", "...", "(", ")",
                                 '"', "'s", "—", "-", "𑁇", "𝐀", "😀", "。", "x", "a.", " ", " ", "  ", "\n", "\t"]),
                max_size=30))
def test_condensing_never_moves_a_sentence_boundary(fast_and_plain, pieces):
    fast, plain = fast_and_plain
    document = Document("".join(pieces), [])
    assert fast.split(document) == plain.split(document)


@pytest.mark.parametrize("lang, name", REAL_SAMPLES)
def test_dropping_the_blank_special_cases_changes_no_token(wikipedia, lang, name):
    """Without its special cases for blanks the tokenizer caches past line breaks, and tokenizes alike."""
    import spacy

    splitter, stock = SentenceSplitter(lang), SentenceSplitter(lang)
    stock.nlp.tokenizer.rules = spacy.blank(splitter.info.used).tokenizer.rules
    assert set(stock.nlp.tokenizer.rules) - set(splitter.nlp.tokenizer.rules) <= {"\n", " ", "\t"}
    assert "\n" not in splitter.nlp.tokenizer.rules
    for document in clean_articles(wikipedia / name, lang):
        ours, theirs = splitter.nlp.tokenizer(document.text), stock.nlp.tokenizer(document.text)
        assert [(t.text, t.idx, t.whitespace_) for t in ours] == [(t.text, t.idx, t.whitespace_) for t in theirs]
