"""Hostile wikitext (issue 16): real articles, mutated, through the pipeline's own per-page path.

The pages come from the shared sample dumps, read by relxdata's dump reader: English, German,
French, Spanish, Turkish and Japanese articles, among them pages that quote Arabic, Hebrew and
Persian. There is no right-to-left dump among the samples; right-to-left text comes from real
Wikidata labels (ar, he, fa), and hostile pages are also extracted with the ar, he and fa rules and
splitters. The mutations are what broken edits, vandalism, bots and truncation do to wikitext.
Every page goes through `PageExtractor.extract`, as `run sentences` calls it, spaCy included.
"""

from __future__ import annotations

import bz2
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relxdata.dumps import Page, Siteinfo, plan_dump, read_pages
from relxdata.extraction import ExtractionConfig, PageExtractor
from relxdata.titles import TitleRules
from relxdata.wikitext import clean, unclosed_markup

# What must not reach a sentence: wiki markup and HTML that the cleaner should have consumed.
DEBRIS = ("[[", "]]", "{{", "}}", "{|", "|}", "<ref", "&nbsp;")
QUARANTINE_REASONS = ("too_large", "timeout", "parse_error")
# (sample, language, titles; None: every article).
SAMPLES = (
    ("minidumps/enwiki.xml.bz2", "en", None),
    ("minidumps/dewiki.xml.bz2", "de", None),
    ("minidumps/frwiki.xml.bz2", "fr", None),
    ("minidumps/eswiki.xml.bz2", "es", None),
    ("minidumps/trwiki.xml.bz2", "tr", None),
    ("jawiki-2025-head.xml.bz2", "ja", ("アンパサンド", "EU (曖昧さ回避)", "生物", "こどもの文化", "日常生活", "形式言語",
                                       "正規言語", "ゴーダチーズ", "国の一覧", "チュニジア")),
    ("enwiki-2016-sample.xml.bz2", "en", ("Allah", "Algeria", "Actrius", "Alain Connes")),
)
RIGHT_TO_LEFT = ("ar", "he", "fa")
SMALL_PAGE = 16_000  # characters: the fast tests take the pages below it


@dataclass(frozen=True)
class Sample:
    page: Page
    lang: str
    siteinfo: Siteinfo


@pytest.fixture(scope="module")
def samples(wikipedia) -> list[Sample]:
    found = []
    for path, lang, titles in SAMPLES:
        plan = plan_dump(str(wikipedia / path))
        articles = [page for page in read_pages(plan) if page.ns == 0 and page.redirect is None]
        chosen = [page for page in articles if titles is None or page.title in titles]
        assert len(chosen) == (len(articles) if titles is None else len(titles))
        found += [Sample(page, lang, plan.siteinfo) for page in chosen]
    assert len(found) == 45
    return found


@pytest.fixture(scope="module")
def right_to_left_phrases(shared_data) -> tuple[str, ...]:
    """Labels and descriptions in Arabic, Hebrew and Persian from a real Wikidata dump."""
    phrases = []
    with bz2.open(shared_data / "wikidata" / "twenty-entities-dump-layout.json.bz2", "rt", encoding="utf-8") as lines:
        for line in lines:
            line = line.strip().rstrip(",")
            if line.startswith("{"):
                entity = json.loads(line)
                phrases += [entity[field][lang]["value"] for field in ("labels", "descriptions")
                            for lang in RIGHT_TO_LEFT if lang in entity.get(field, {})]
    assert len(phrases) == 33
    return tuple(dict.fromkeys(phrases))


@lru_cache(maxsize=None)
def extractor(lang: str, siteinfo: Siteinfo) -> PageExtractor:
    """An extractor configured as `run sentences` configures it by default."""
    return PageExtractor(ExtractionConfig(lang=lang), siteinfo)


# --- mutations ------------------------------------------------------------------------------------

FRAGMENTS = (
    "[[", "]]", "{{", "}}", "{|", "|}", "\n{|\n", "\n|}\n", "{{{", "}}}", "[", "]", "|", "||", "!!", "=", "\n== ",
    "==", "'''", "''", "<ref>", '<ref name="x">', "</ref>", "<ref name=x/>", "<references/>", "<div", "<div>",
    "</div>", '<span style="color:red">', "</span>", "<nowiki>", "</nowiki>", "<!--", "-->", "<math>", "</math>",
    "<pre>", "<br>", "</br>", "<p>", "<table>", "<gallery>", "<", ">", "[http://example.org ", "[[File:",
    "[[Category:", "&nbsp", "&nbsp;", "&#xZZ;", "&amp", "&#", "&#x110000;", "&#0;", "&#xD800;", "&lt;ref&gt;",
    "&#91;&#91;", "__NOTOC__", "~~~~", "#REDIRECT [[X]]", "\n*", "\n#", "\n:", "\n;", "----", "\n", "\r", "\t",
    "\x85", "\u2028", "{{#if:", "-{", "}-", "[[:", "[[#", "[[ |", "[[|]]", "{{|}}",
)
# Zero-width and direction marks: ZWSP, ZWNJ, ZWJ, BOM, WORD JOINER, LRM, RLM, RLE, RLO, PDF, RLI, PDI.
INVISIBLES = ("\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u200e", "\u200f", "\u202b", "\u202e", "\u202c",
              "\u2067", "\u2069")
# Constructs whose openers or closers `unpair` removes, and `split` breaks with an invisible character.
MARKS = ("[[", "]]", "{{", "}}", "{|", "|}", "</ref>", "<ref", ">", "-->", "|", "'''")
NESTINGS = (
    lambda depth: "{{a|" * depth + "x" + "}}" * depth,
    lambda depth: "[[a|" * depth + "x" + "]]" * depth,
    lambda depth: "{{a|[[b|" * depth + "x" + "]]}}" * depth,
    lambda depth: "<span>" * depth + "x" + "</span>" * depth,
    lambda depth: "<div>[[a|" * depth + "x" + "]]</div>" * depth,
    lambda depth: "\n{|\n|\n" * depth + "x" + "\n|}\n" * depth,
    lambda depth: "<ref>" * depth + "x" + "</ref>" * depth,
    lambda depth: "''" * depth + "x" + "''" * depth,
    # Unclosed: the tokenizer retries each one to the end of the page (tested for time on its own below).
    lambda depth: "{{a|" * min(depth, 30),
    lambda depth: "[[a|" * min(depth, 30),
    lambda depth: "<div " * min(depth, 30),
    lambda depth: "\n{|\n" * min(depth, 30),
)
KINDS = ("insert", "delete", "unpair", "split", "nest", "table", "script", "invisible", "truncate")


@dataclass(frozen=True)
class Mutation:
    kind: str
    at: int  # a position, or which occurrence of a mark; taken modulo their number
    size: int  # 1..500: characters, nesting levels, table rows / 2
    pick: int  # which fragment, nesting, mark or phrase; taken modulo their number


def mutate(text: str, mutation: Mutation, phrases: tuple[str, ...]) -> str:
    kind, size, pick = mutation.kind, mutation.size, mutation.pick
    at = mutation.at % (len(text) + 1)
    if kind == "insert":
        return text[:at] + FRAGMENTS[pick % len(FRAGMENTS)] + text[at:]
    if kind == "delete":
        return text[:at] + text[at + size:]
    if kind in ("unpair", "split"):
        mark = MARKS[pick % len(MARKS)]
        places = [match.start() for match in re.finditer(re.escape(mark), text)]
        if not places:
            return text
        where = places[mutation.at % len(places)]
        if kind == "unpair":
            return text[:where] + text[where + len(mark):]
        return text[:where + 1] + INVISIBLES[size % len(INVISIBLES)] + text[where + 1:]
    if kind == "nest":
        return text[:at] + NESTINGS[pick % len(NESTINGS)](size) + text[at:]
    if kind == "table":
        return text[:at] + huge_table(size * 2) + text[at:]
    if kind == "script":
        return text[:at] + script_fragment(pick, phrases) + text[at:]
    if kind == "invisible":
        # `size` marks spread evenly from `at` to the end.
        cuts = list(range(at, len(text), max((len(text) - at) // size, 1)))[:size]
        return INVISIBLES[pick % len(INVISIBLES)].join(text[start:end] for start, end in
                                                       zip([0, *cuts], [*cuts, len(text)]))
    assert kind == "truncate", kind
    return text[:at]


def huge_table(rows: int) -> str:
    row = "|-\n| [[Berlin]] || {{flagicon|DE}} 1,234 || <ref>{{cite web|url=http://a.org}}</ref> || ''x''\n"
    return '\n{| class="wikitable sortable"\n! A !! B !! C !! D\n' + row * rows + "|}\n"


def script_fragment(pick: int, phrases: tuple[str, ...]) -> str:
    """Right-to-left and East Asian text, alone, in links, in file links, and around direction marks."""
    phrase = phrases[pick % len(phrases)]
    shapes = (
        phrase,
        f"\u200f{phrase}\u200e",
        f"[[{phrase}]]",
        f"[[Berlin|\u202b{phrase}\u202c]]",
        f"[[\u200f{phrase}\u200f|{phrase}]]",
        f"\u2067[[{phrase}]]\u2069 (ベルリン, 柏林) [[東京|Tōkyō]]",
        f"[[ملف:{phrase}.jpg|تصغير|{phrase} [[{phrase}]]]]",
        f"[[קובץ:X.png|ממוזער|[[{phrase}]]]]",
        f"'''{phrase}''' ({{{{lang-ar|{phrase}}}}}) [[رده:{phrase}]]",
        f"{phrase}؟ {phrase}۔ {phrase}. 日本語。[[{phrase}#قسم|{phrase}]]",
    )
    return shapes[(pick // len(phrases)) % len(shapes)]


def mutated(page: Page, mutations: list[Mutation], phrases: tuple[str, ...]) -> Page:
    text = page.text
    for mutation in mutations:
        text = mutate(text, mutation, phrases)
    return Page(page_id=page.page_id, ns=page.ns, title=page.title, redirect=None, text=text)


def random_mutations(rng: random.Random) -> list[Mutation]:
    """The fixed corpus's mutations, drawn from the same space as `MUTATIONS`."""
    return [Mutation(rng.choice(KINDS), rng.randrange(1 << 20), rng.randint(1, 500), rng.randrange(1000))
            for _ in range(rng.randint(1, 4))]


MUTATIONS = st.lists(st.builds(Mutation, kind=st.sampled_from(KINDS), at=st.integers(0, (1 << 20) - 1),
                               size=st.integers(1, 500), pick=st.integers(0, 999)), min_size=1, max_size=4)


# --- the contract ---------------------------------------------------------------------------------

def extract_one(lang: str, siteinfo: Siteinfo, page: Page) -> tuple[str, list[dict]]:
    """The page's one outcome and its sentences, checking the sentence-row contract on the way."""
    output = extractor(lang, siteinfo).extract([page])  # nothing may escape
    counts = output.counts
    outcomes = {key: number for key, number in counts.items()
                if key == "pages.emitted" or key.startswith("pages.skipped.")}
    assert counts["pages.read"] == 1 and list(outcomes.values()) == [1], outcomes
    outcome = next(iter(outcomes)).rsplit(".", 1)[1]
    quarantined = [(row["reason"], row["wikitext"]) for row in output.quarantine]
    assert quarantined == ([(outcome, page.text)] if outcome in QUARANTINE_REASONS else [])
    assert bool(output.sentences) == (outcome == "emitted")
    assert counts["sentences"] == len(output.sentences)
    assert counts["links.emitted"] == sum(len(row["links"]) for row in output.sentences)
    for row in output.sentences:
        text = row["text"]
        assert text and text == text.strip()
        for link in row["links"]:
            assert 0 <= link["start"] < link["end"] <= len(text)
            assert text[link["start"]:link["end"]] == link["anchor"]
            assert link["target"]
    return outcome, output.sentences


def debris(sentences: list[dict]) -> Counter:
    found = Counter(sentences=len(sentences))
    for row in sentences:
        marks = [mark for mark in DEBRIS if mark in row["text"]]
        found["with_debris"] += bool(marks)
        found.update(marks)
    return found


@pytest.mark.slow
def test_unmutated_pages_baseline(samples):
    outcomes, texts = Counter(), []
    for sample in samples:
        outcome, sentences = extract_one(sample.lang, sample.siteinfo, sample.page)
        outcomes[outcome] += 1
        texts += [row["text"] for row in sentences]
    assert outcomes == {"emitted": 45}
    # 1 of 10,040 sentences, from the source's own typo. Over the whole sample dumps: 19 of 95,513
    # (the rest: `{{formatnum:{{ #expr: …}}}}` split over lines, which mwparserfromhell leaves as text).
    assert len(texts) == 10040
    assert [text for text in texts if any(mark in text for mark in DEBRIS)] == [
        "College of Forestry, Vellanikkara, [[Thrissur]"]


def check_hostile(sample: Sample, mutations: list[Mutation], phrases: tuple[str, ...], rtl: int) -> None:
    page = mutated(sample.page, mutations, phrases)
    lang = RIGHT_TO_LEFT[rtl - 1] if rtl else sample.lang
    outcome, _ = extract_one(lang, sample.siteinfo, page)
    # An exception in relxdata's own code is a bug that the quarantine only hides.
    assert outcome != "parse_error"


@settings(derandomize=True, deadline=None, max_examples=80, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), mutations=MUTATIONS, rtl=st.integers(0, 3))
def test_hostile_small_pages_keep_the_contract(samples, right_to_left_phrases, data, mutations, rtl):
    small = [sample for sample in samples if len(sample.page.text) < SMALL_PAGE]
    check_hostile(data.draw(st.sampled_from(small)), mutations, right_to_left_phrases, rtl)


@pytest.mark.slow
@settings(derandomize=True, deadline=None, max_examples=200, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), mutations=MUTATIONS, rtl=st.integers(0, 3))
def test_hostile_pages_keep_the_contract(samples, right_to_left_phrases, data, mutations, rtl):
    check_hostile(data.draw(st.sampled_from(samples)), mutations, right_to_left_phrases, rtl)


@pytest.mark.slow
def test_debris_rate_of_a_fixed_mutated_corpus(samples, right_to_left_phrases):
    outcomes, found = Counter(), Counter()
    for sample in samples:
        for variant in range(4):
            rng = random.Random(f"{sample.page.title}/{variant}")
            page = mutated(sample.page, random_mutations(rng), right_to_left_phrases)
            outcome, sentences = extract_one(sample.lang, sample.siteinfo, page)
            outcomes[outcome] += 1
            found += debris(sentences)
    assert outcomes == {"emitted": 180}
    # Measured: 589 of 46,943 sentences (1.25%), 339 of them from one page whose tables are nested
    # past the tokenizer's depth limit. The rest is mostly what MediaWiki itself shows as text: a
    # table that lost its `|}`, a template cut short, brackets split by a zero-width character.
    assert found["sentences"] > 40_000
    assert found["with_debris"] / found["sentences"] < 0.014


# --- time -----------------------------------------------------------------------------------------

def test_a_page_that_would_hold_the_tokenizer_past_the_limit_is_stopped_at_once(samples):
    """The page deadline cannot interrupt mwparserfromhell's C tokenizer; the guard before it can."""
    sample = next(sample for sample in samples if sample.page.title == "Allah")
    page = sample.page
    # Unguarded, each of 7,050 unclosed openers is retried to the end of the page: 35 s of C code on
    # a 2-core development machine, past a 10 s limit.
    text = page.text.replace("\n\n", "\n\n" + "{{a|" * 50 + "<div " * 50 + "[[a|" * 50)
    hostile = Page(page_id=page.page_id, ns=0, title=page.title, redirect=None, text=text)
    guarded = PageExtractor(ExtractionConfig(lang="en", page_timeout_s=10), sample.siteinfo)
    started = time.monotonic()
    output = guarded.extract([hostile])
    assert time.monotonic() - started < 5
    assert dict(output.counts) == {"pages.read": 1, "pages.skipped.timeout": 1}
    [row] = output.quarantine
    assert (row["reason"], row["wikitext"]) == ("timeout", text)
    assert row["detail"] == "7050 templates, links, tables or tags never close in 68073 characters"


def test_unclosed_markup_counts_what_the_tokenizer_retries():
    assert unclosed_markup("{{a|{{b}} [[c]] [[d <div><span>x</span> <br> <li> <ref name=x/> <DIV>y</div>\n{|") == 4
    assert unclosed_markup("Prose with {{a}}, [[b|c]], <ref>{{d}}</ref> and\n{|\n|e\n|}") == 0


def test_tag_attributes_are_searched_in_linear_time():
    started = time.monotonic()
    document = clean("Text. " + "<ref." * 20_000, TitleRules.for_wiki("en"))
    # Before, each "<ref" searched the rest of the page for a ">": 4 s for 8,000, quadratic.
    assert time.monotonic() - started < 5
    assert document.text.startswith("Text. <ref.<ref.")


def test_an_indented_table_is_a_table():
    document = clean("Intro [[A]].\n: {| class=x\n|-\n| [[B]] || c\n|}\n::{|\n|d\n|}\nEnd [[E]].",
                     TitleRules.for_wiki("en"))
    assert document.text == "Intro A.\nEnd E."
    assert [link.target for link in document.links] == ["A", "E"]
