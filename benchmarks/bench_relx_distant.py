"""Pages per second of `relxdata run relx-distant` against the RELX recipe, on the same inputs.

The RELX recipe is what the RELX-Distant authors describe (their code was never released), as one
plain script: WikiExtractor `--links --json` over the dump; wikimapper's SQLite index built from
page.sql, page_props.sql and redirect.sql; the inventory's truthy facts loaded from the Wikidata
JSON dump into a dict; then one Python process that splits each article into sentences (spaCy blank
+ sentencizer), maps link targets to QIDs and joins every pair of QIDs in a sentence with the facts.
relxdata reads the same dump, redirect.sql and Wikidata dump. Both are timed end to end.

The dump is enwiki-2016-sample's 206 real pages repeated `--copies` times (bench_sentences). The
other inputs are built from it: every article of the dump and every title its links point to (the
rest of the wiki, but `--red-links` of them) is a page with an item, and `--fact-share` of the title
pairs linked in one rough sentence of the wikitext get a fact of the inventory.

    python benchmarks/bench_relx_distant.py --copies 40 --processes 2
"""

from __future__ import annotations

import argparse
import bz2
import datetime
import gzip
import hashlib
import html
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, NamedTuple
from urllib.parse import unquote

from bench_sentences import enlarged_dump
from report import write_results

from relxdata.corpora import read_rows
from relxdata.dumps import plan_dump, read_pages
from relxdata.kb import entity_facts, iter_entities
from relxdata.relations import load_relations
from relxdata.titles import LinkKind, TitleRules

if TYPE_CHECKING:
    from spacy.tokens import Span

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE.parent.parent / "shared" / "data" / "sql" / "2024-schema" / "rmwiki" / "20240301"  # real dumps' DDL
DUMP = "enwiki-20160101"
WIKIDATA = "wikidata-20160101-all.json.bz2"
FIRST_FRESH_ID = 2_000_000_000  # pages of the rest of the wiki, above every page id of the dump
CLASSES = ("Q5", "Q515", "Q6256", "Q43229", "Q11424", "Q7725634")  # P31 values, never linked
WIKILINK = re.compile(r"\[\[([^\[\]|]*)(?:\|[^\[\]]*)?\]\]")
ROUGH_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n")
ANCHOR = re.compile(r'&lt;a href="([^"]*)"&gt;(.*?)&lt;/a&gt;', re.S)  # WikiExtractor 3.1 escapes its links
Link = tuple[int, int, str]  # start, end, target as WikiExtractor wrote it


def draw(*parts: str) -> float:
    """A deterministic draw in [0, 1) for `parts`."""
    return int.from_bytes(hashlib.sha1("\t".join(parts).encode("utf-8")).digest()[:8], "big") / 2 ** 64


def qid_of(page_id: int) -> str:
    return f"Q{1_000_000 + page_id}"


# --- inputs: the wiki around the dump ------------------------------------------------------------

class WikiPage(NamedTuple):
    id: int
    redirect: bool
    length: int


@dataclass
class Wiki:
    pages: dict[str, WikiPage] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # source title -> target title
    pairs: set[tuple[str, str]] = field(default_factory=set)  # titles linked in one rough sentence

    def qid(self, title: str) -> str | None:
        page = self.pages.get(self.redirects.get(title, title))
        return qid_of(page.id) if page and not page.redirect else None


def read_wiki(dump: Path, red_links: float) -> Wiki:
    """The dump's pages, then the rest of the wiki: a page for every link target but red links."""
    plan = plan_dump(str(dump), parallelization=2)
    rules = TitleRules.for_wiki("en", plan.siteinfo.case, [(ns.name, ns.key) for ns in plan.siteinfo.namespaces])
    wiki, targets, texts_seen = Wiki(), set(), set()
    for page in read_pages(plan):
        if page.ns != 0:
            continue
        wiki.pages[page.title] = WikiPage(page.page_id, page.redirect is not None, len(page.text.encode()))
        if page.redirect is not None:
            wiki.redirects[page.title] = rules.classify(page.redirect).title
        elif page.text not in texts_seen:  # the copies share their texts
            texts_seen.add(page.text)
            for titles in rough_sentences(page.text, rules):
                targets.update(titles)
                wiki.pairs.update(itertools.combinations(titles, 2))
    rest = sorted(title for title in targets | set(wiki.redirects.values())
                  if title not in wiki.pages and draw("red", title) >= red_links)
    for number, title in enumerate(rest):
        wiki.pages[title] = WikiPage(FIRST_FRESH_ID + number, False, 1000 + number % 50_000)
    return wiki


def rough_sentences(text: str, rules: TitleRules) -> Iterator[list[str]]:
    """The article titles linked in each line, or '. '-separated piece, of raw wikitext."""
    for piece in ROUGH_SENTENCE.split(text):
        targets = (rules.classify(raw) for raw in WIKILINK.findall(piece))
        if titles := sorted({t.title for t in targets if t.kind is LinkKind.ARTICLE and t.title}):
            yield titles


def facts_of(wiki: Wiki, fact_share: float, properties: list[str]) -> dict[str, list[tuple[str, str]]]:
    """subject QID -> [(property, object QID)]: a fact for `fact_share` of the co-occurring pairs."""
    facts: dict[str, list[tuple[str, str]]] = {}
    for first, second in sorted(wiki.pairs):
        share, a, b = draw("fact", first, second), wiki.qid(first), wiki.qid(second)
        if share < fact_share and a and b and a != b:
            subject, obj = (a, b) if int(share * 1e6) % 2 else (b, a)
            facts.setdefault(subject, []).append((properties[int(share * 1e9) % len(properties)], obj))
    return facts


def sql_literal(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"') + "'"
    return "NULL" if value is None else str(value)


def write_sql_dump(path: Path, table: str, rows: Iterable[tuple], per_insert: int = 2000) -> None:
    """mysqldump's layout, with MediaWiki's current CREATE TABLE: one line per INSERT of many rows."""
    schema = gzip.decompress((SCHEMAS / f"rmwiki-20240301-{table}.sql.gz").read_bytes()).decode()
    create = schema[schema.index("DROP TABLE"):schema.index(";", schema.index("CREATE TABLE")) + 1]
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(f"-- MySQL dump 10.19  Distrib 10.3.38-MariaDB, for debian-linux-gnu (x86_64)\n\n{create}\n\n")
        rows = iter(rows)
        while batch := list(itertools.islice(rows, per_insert)):
            out.write(f"INSERT INTO `{table}` VALUES " + ",".join(
                "(" + ",".join(map(sql_literal, row)) + ")" for row in batch) + ";\n")
        out.write("\n-- Dump completed on 2016-01-01  0:00:00\n")


def statement(subject: str, number: int, prop: str, obj: str) -> dict:
    value = {"entity-type": "item", "numeric-id": int(obj[1:]), "id": obj}
    return {"mainsnak": {"snaktype": "value", "property": prop, "datatype": "wikibase-item",
                         "datavalue": {"value": value, "type": "wikibase-entityid"}},
            "type": "statement", "id": f"{subject}${number}", "rank": "normal"}


def wikidata_lines(wiki: Wiki, facts: dict[str, list[tuple[str, str]]]) -> Iterator[str]:
    """One item per article, in QID order: label, sitelink, a P31 and its facts."""
    for page, title in sorted((page, title) for title, page in wiki.pages.items() if not page.redirect):
        qid = qid_of(page.id)
        claims = {"P31": [statement(qid, 0, "P31", CLASSES[page.id % len(CLASSES)])]}
        for number, (prop, obj) in enumerate(facts.get(qid, ()), 1):
            claims.setdefault(prop, []).append(statement(qid, number, prop, obj))
        yield json.dumps({"type": "item", "id": qid, "labels": {"en": {"language": "en", "value": title}},
                          "claims": claims, "sitelinks": {"enwiki": {"site": "enwiki", "title": title, "badges": []}}},
                         ensure_ascii=False)


def build_inputs(dump: Path, work: Path, fact_share: float, red_links: float) -> dict:
    """page.sql, page_props.sql, redirect.sql and the Wikidata JSON dump around `dump`, in `work`."""
    wiki = read_wiki(dump, red_links)
    facts = facts_of(wiki, fact_share, sorted(load_relations().properties))
    pages = sorted(wiki.pages.items(), key=lambda item: item[1].id)
    write_sql_dump(work / f"{DUMP}-page.sql.gz", "page", (
        (page.id, 0, title.replace(" ", "_"), int(page.redirect), 0, round(draw("random", title), 12),
         "20160101000000", "20160101000000", page.id + 1, page.length, "wikitext", None) for title, page in pages))
    write_sql_dump(work / f"{DUMP}-page_props.sql.gz", "page_props", (
        (page.id, "wikibase_item", qid_of(page.id), None) for _, page in pages if not page.redirect))
    write_sql_dump(work / f"{DUMP}-redirect.sql.gz", "redirect", sorted(
        (wiki.pages[source].id, 0, target.replace(" ", "_"), "", "") for source, target in wiki.redirects.items()))
    with bz2.open(work / WIKIDATA, "wt", encoding="utf-8") as out:
        out.write("[\n" + ",\n".join(wikidata_lines(wiki, facts)) + "\n]\n")
    return {"rest_of_wiki_pages": sum(page.id >= FIRST_FRESH_ID for page in wiki.pages.values()),
            "cooccurring_title_pairs": len(wiki.pairs), "facts": sum(map(len, facts.values()))}


# --- the RELX recipe -----------------------------------------------------------------------------

def linked_text(escaped: str) -> tuple[str, list[Link]]:
    """WikiExtractor's text with HTML-escaped <a href> links -> plain text and its links."""
    parts, links, length, last = [], [], 0, 0
    for match in ANCHOR.finditer(escaped):
        before, anchor = html.unescape(escaped[last:match.start()]), html.unescape(match.group(2))
        parts += [before, anchor]
        length += len(before)
        links.append((length, length + len(anchor), match.group(1)))
        length, last = length + len(anchor), match.end()
    parts.append(html.unescape(escaped[last:]))
    return "".join(parts), links


def wiki_title(href: str) -> str:
    """A link target as wikimapper wants it: unquoted, no fragment, underscores, first letter upper."""
    title = re.sub(r"[\s_]+", "_", unquote(href).split("#", 1)[0]).strip("_:")
    return title[:1].upper() + title[1:]


def documents(directory: Path) -> Iterator[tuple[str, tuple[list[Link], int]]]:
    """WikiExtractor's articles as (text, (links, page id)), for spaCy's `pipe(as_tuples=True)`."""
    for path in sorted(directory.glob("*/wiki_*")):
        with path.open(encoding="utf-8") as lines:
            for article in map(json.loads, lines):
                text, links = linked_text(article["text"])
                yield text, (links, int(article["id"]))


def sentence_rows(sentence: Span, links: list[Link], qids: list[str | None], facts: dict[tuple[str, str], list[str]],
                  page_id: int) -> Iterator[dict]:
    """Every pair of distinct QIDs linked in the sentence (first mention each) joined with its facts."""
    first: dict[str, tuple[int, int]] = {}
    for (start, end, _), qid in zip(links, qids):
        if qid and start >= sentence.start_char and end <= sentence.end_char and qid not in first:
            first[qid] = (start - sentence.start_char, end - sentence.start_char)
    for a, b in itertools.combinations(first, 2):
        for subject, obj in ((a, b), (b, a)):
            for prop in facts.get((subject, obj), ()):
                yield {"page_id": page_id, "sentence": sentence.text, "entity1": subject, "entity2": obj,
                       "entity1_indices": first[subject], "entity2_indices": first[obj], "relation": prop}


def run_recipe(work: Path, processes: int) -> dict:
    import spacy  # the recipe's imports count in its time
    from wikimapper import WikiMapper, create_index

    seconds, started = {}, time.perf_counter()

    def stage(name: str) -> None:
        seconds[name] = round(time.perf_counter() - started - sum(seconds.values()), 2)

    subprocess.run([sys.executable, "-m", "wikiextractor.WikiExtractor", "--links", "--json", "--processes",
                    str(processes), "-q", "-o", str(work / "extracted"), str(work / f"{DUMP}-pages-articles.xml.bz2")],
                   check=True)
    stage("wikiextractor")
    create_index(DUMP, str(work), str(work / "index.db"))  # what `wikimapper create` runs
    stage("wikimapper_index")
    facts: dict[tuple[str, str], list[str]] = {}
    properties = load_relations().properties
    for entity in iter_entities(str(work / WIKIDATA)):
        for fact in entity_facts(entity, properties):
            facts.setdefault((fact.subject, fact.object), []).append(fact.property)
    stage("facts")
    mapper, nlp = WikiMapper(str(work / "index.db")), spacy.blank("en")
    nlp.add_pipe("sentencizer")
    counts = {"articles": 0, "links": 0, "links_resolved": 0, "rows": 0}
    with (work / "rows.jsonl").open("w", encoding="utf-8") as out:
        for doc, (links, page_id) in nlp.pipe(documents(work / "extracted"), as_tuples=True):
            qids = [mapper.title_to_id(wiki_title(target)) for _, _, target in links]
            counts["articles"] += 1
            counts["links"] += len(links)
            counts["links_resolved"] += sum(qid is not None for qid in qids)
            for sentence in doc.sents:
                for row in sentence_rows(sentence, links, qids, facts, page_id):
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    counts["rows"] += 1
    stage("sentences_and_join")
    return {**counts, "seconds": seconds}


# --- measuring ------------------------------------------------------------------------------------

def tree_rss_kib(root: int) -> int:
    """The resident memory of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        rss[int(stat.parent.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
    total, frontier = 0, [root]
    while frontier:
        pid = frontier.pop()
        total += rss.get(pid, 0)
        frontier += children.get(pid, [])
    return total


def measured(command: list[str], log: Path) -> tuple[float, int, int]:
    """Runs `command` to its end: wall seconds, peak RSS of its whole process tree in MiB, exit status."""
    started, peak_kib = time.perf_counter(), 0
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        while process.poll() is None:
            peak_kib = max(peak_kib, tree_rss_kib(process.pid))
            try:
                process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
    return time.perf_counter() - started, round(peak_kib / 1024), process.returncode


def last_error(log: Path) -> str:
    return next((line for line in reversed(log.read_text().splitlines()) if "Error" in line), "no error line")


def overlap(work: Path) -> dict:
    """How many (page, entity1, entity2, relation) both sides find, and each alone."""
    def keys(rows: Iterable[dict]) -> set[tuple]:
        return {(row["page_id"], row["entity1"], row["entity2"], row["relation"]) for row in rows}
    with (work / "rows.jsonl").open(encoding="utf-8") as lines:
        recipe = keys(map(json.loads, lines))
    relxdata = keys(read_rows(str(work / "relxdata")))
    return {"keys_in_both": len(recipe & relxdata), "keys_only_recipe": len(recipe - relxdata),
            "keys_only_relxdata": len(relxdata - recipe)}


def compare(work: Path, args: argparse.Namespace) -> dict:
    """Times the recipe, then relxdata (up to `args.attempts` times), on the inputs in `work`."""
    log = args.work / "relx_distant-recipe.log"
    recipe_s, recipe_mib, status = measured(
        [sys.executable, __file__, "--recipe", str(work), "--processes", str(args.processes)], log)
    if status != 0:
        sys.exit(f"the recipe failed (log: {log}):\n{log.read_text()[-3000:]}")
    recipe = json.loads((work / "recipe.json").read_text())
    print(f"recipe: {recipe_s:.1f} s, {recipe}", flush=True)
    failures = []
    for attempt in range(1, args.attempts + 1):
        log = args.work / f"relx_distant-relxdata-{attempt}.log"
        relxdata_s, relxdata_mib, status = measured([
            sys.executable, "-m", "relxdata.cli", "run", "relx-distant", "--lang", "en", "--overwrite",
            "--dump", str(work / f"{DUMP}-pages-articles.xml.bz2"), "--wikidata", str(work / WIKIDATA),
            "--redirects", str(work / f"{DUMP}-redirect.sql.gz"), "--out", str(work / "relxdata"),
            "--pages-per-shard", "100", f"--direct_num_workers={args.processes}"], log)
        if status == 0:
            break
        failures.append(f"after {relxdata_s:.0f} s: {last_error(log)} (log: {log})")
        print(f"relxdata failed, {failures[-1]}", flush=True)
    else:
        sys.exit(f"relxdata failed {args.attempts} times; the last log: {log}")
    counts = json.loads((work / "relxdata" / "_manifest.json").read_text())["counts"]
    return {
        "seconds": {"recipe": round(recipe_s, 2), "relxdata": round(relxdata_s, 2)},
        "recipe_stages_seconds": recipe["seconds"],
        "peak_rss_mib": {"recipe": recipe_mib, "relxdata": relxdata_mib},
        "articles": {"recipe": recipe["articles"], "relxdata": counts["pages"]["emitted"]},
        "links": {"recipe": {"emitted": recipe["links"], "resolved": recipe["links_resolved"]},
                  "relxdata": counts["links"]},
        "rows": {"recipe": recipe["rows"], "relxdata": counts.get("rows", 0), **overlap(work)},
        "relxdata_failed_attempts": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--fact-share", type=float, default=0.3, help="co-occurring title pairs given a fact")
    parser.add_argument("--red-links", type=float, default=0.03, help="link targets that are no page")
    parser.add_argument("--attempts", type=int, default=1, help="runs of relxdata allowed to fail but the last")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path,
                        default=HERE / "results" / f"relx_distant-{datetime.date.today().isoformat()}.json")
    parser.add_argument("--recipe", type=Path, help=argparse.SUPPRESS)  # internal: run the recipe in this folder
    args = parser.parse_args()
    if args.recipe:
        (args.recipe / "recipe.json").write_text(json.dumps(run_recipe(args.recipe, args.processes)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    dump, pages = enlarged_dump(args.copies, args.work)
    with tempfile.TemporaryDirectory(dir=args.work, prefix="relx_distant-") as tmp:
        work, started = Path(tmp), time.perf_counter()
        inputs = build_inputs(dump, work, args.fact_share, args.red_links)
        inputs["seconds"] = round(time.perf_counter() - started, 1)
        print(f"inputs: {inputs}", flush=True)
        (work / f"{DUMP}-pages-articles.xml.bz2").symlink_to(dump.resolve())
        measurements = compare(work, args)
    seconds = measurements["seconds"]
    results = {
        "pages": pages, "copies": args.copies, "processes": args.processes, "inputs": inputs,
        "pages_per_second": {name: round(pages / value, 1) for name, value in seconds.items()},
        "relxdata_vs_recipe": round(seconds["recipe"] / seconds["relxdata"], 3), **measurements,
    }
    write_results(args.results, results)


if __name__ == "__main__":
    main()
