import gc
import time

import pytest

from relxdata.dumps import Page, Siteinfo, plan_dump, read_pages
from relxdata.extraction import ExtractionConfig, PageDeadline, PageExtractor, PageTimedOut

SITEINFO = Siteinfo(dbname="enwiki", case="first-letter", generator="", schema_version="0.11", namespaces=())


def page(page_id, text, ns=0, redirect=None, title=None):
    return Page(page_id=page_id, ns=ns, title=title or f"Page {page_id}", redirect=redirect, text=text)


def test_every_page_ends_in_exactly_one_outcome(monkeypatch):
    import relxdata.extraction as extraction

    real_clean = extraction.clean

    def clean(wikitext, rules):
        if "EXPLODE" in wikitext:
            raise RecursionError("maximum recursion depth exceeded")
        if "SLOW" in wikitext:
            time.sleep(2)
        return real_clean(wikitext, rules)

    monkeypatch.setattr(extraction, "clean", clean)
    extractor = PageExtractor(ExtractionConfig("en", max_page_bytes=200, page_timeout_s=0.5), SITEINFO)
    pages = [
        page(1, "[[Paris]] is in [[France]]. It is big."),
        page(2, "#REDIRECT [[Paris]]", redirect="paris#History", title="Paname"),
        page(3, "Talk text.", ns=1),
        page(4, "x" * 300),
        page(5, "EXPLODE"),
        page(6, "SLOW"),
        page(7, "{{Infobox only}}"),
    ]
    output = extractor.extract(pages)
    counts = output.counts
    assert counts["pages.read"] == 7
    assert counts["pages.emitted"] == 1
    skipped = {key.rsplit(".", 1)[1]: value for key, value in counts.items() if key.startswith("pages.skipped.")}
    assert skipped == {"redirect": 1, "namespace": 1, "too_large": 1, "parse_error": 1, "timeout": 1, "empty": 1}
    assert counts["pages.read"] == counts["pages.emitted"] + sum(skipped.values())
    assert [(row["sent_index"], row["text"]) for row in output.sentences] == [
        (0, "Paris is in France."), (1, "It is big.")]
    assert output.sentences[0]["links"] == [{"start": 0, "end": 5, "target": "Paris", "anchor": "Paris"},
                                            {"start": 12, "end": 18, "target": "France", "anchor": "France"}]
    assert output.redirects == [{"lang": "en", "page_id": 2, "title": "Paname", "ns": 0, "target": "Paris",
                                 "fragment": "History"}]
    quarantined = {row["page_id"]: (row["reason"], row["wikitext"]) for row in output.quarantine}
    assert quarantined[4] == ("too_large", "x" * 300)
    assert quarantined[5][0] == "parse_error" and quarantined[6] == ("timeout", "SLOW")
    assert output.quarantine[1]["detail"] == "RecursionError: maximum recursion depth exceeded"
    assert counts["sentences"] == 2 and counts["links.emitted"] == 2


def test_extraction_leaves_no_reference_cycles(wikipedia):
    """Extraction runs with the cycle collector paused: whatever it drops must be freed by refcounting."""
    plan = plan_dump(str(wikipedia / "enwiki-2016-sample.xml.bz2"))
    pages = list(read_pages(plan))
    extractor = PageExtractor(ExtractionConfig("en"), plan.siteinfo)
    extractor.extract(pages[:5])  # spaCy's and the title rules' caches filled
    gc.collect()
    gc.disable()
    try:
        output = extractor.extract(pages)
        del output
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert gc.isenabled()


def test_the_page_deadline_stops_a_late_page_and_its_watchdog_ends_with_it():
    deadline = PageDeadline(0.3)
    started = time.monotonic()
    with pytest.raises(PageTimedOut):
        with deadline.running():
            while True:  # pure Python: stopped at the next instruction after the deadline
                pass
    assert 0.3 <= time.monotonic() - started < 1.5
    with deadline.running():
        time.sleep(0.1)  # in time: nothing raised, now or later
    time.sleep(0.5)
    watchdog = deadline._watchdog
    del deadline
    watchdog.join(2)
    assert not watchdog.is_alive()
