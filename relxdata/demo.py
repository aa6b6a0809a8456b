"""`relxdata demo`: the whole chain on the bundled sample, with no downloads."""

from __future__ import annotations

import os
from importlib import resources

from relxdata.corpora import read_rows
from relxdata.dumps import write_multistream
from relxdata.errors import RelxdataError

DEMO_LANGUAGES = ("en", "de", "fr", "es", "tr")


def sample_dump(lang: str) -> str:
    """Path of the bundled hand-written sample wiki for `lang`."""
    return str(resources.files("relxdata").joinpath(f"data/demo/{lang}wiki-demo.xml"))


def _marked(row: dict) -> str:
    """The sentence with each link shown as [anchor -> target]."""
    text, pieces, last = row["text"], [], 0
    for link in row["links"]:
        pieces += [text[last:link["start"]], f"[{link['anchor']} -> {link['target']}]"]
        last = link["end"]
    return "".join(pieces + [text[last:]])


def run_demo(out: str, overwrite: bool = False) -> None:
    from pipelines import sentences

    if os.path.exists(os.path.join(out, "sentences")) and not overwrite:
        raise RelxdataError(f"{out} already holds a demo output; pass --overwrite to replace it")
    dumps = os.path.join(out, "dumps")
    os.makedirs(dumps, exist_ok=True)
    for lang in DEMO_LANGUAGES:
        dump = os.path.join(dumps, f"{lang}wiki-demo-pages-articles-multistream.xml.bz2")
        index = os.path.join(dumps, f"{lang}wiki-demo-pages-articles-multistream-index.txt.bz2")
        write_multistream(sample_dump(lang), dump, index, pages_per_stream=2)
        target = os.path.join(out, "sentences", lang)
        print(f"== {lang}: relxdata run sentences --lang {lang} --dump {dump} --index {index} --out {target}")
        sentences.run(["--lang", lang, "--dump", dump, "--index", index, "--out", target,
                       "--pages-per-shard", "2", "--overwrite", "--direct_num_workers", "2"])
        rows = read_rows(target)
        linked = [row for row in rows if len(row["links"]) >= 2]
        print(f"   {len(rows)} sentences, {sum(len(r['links']) for r in rows)} links, "
              f"{len(linked)} sentences with two or more links; for example:")
        for row in linked[:2]:
            print(f"   {row['page_title']} #{row['sent_index']}: {_marked(row)}")
    print(f"\nShards and manifests are in {os.path.abspath(os.path.join(out, 'sentences'))}/<lang>/")
