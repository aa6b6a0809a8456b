"""From pages to sentence rows: one guarded place that decides what happens to every page."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from relxdata.dumps import Page, Siteinfo
from relxdata.sentences import SentenceSplitter
from relxdata.titles import TitleRules
from relxdata.wikitext import TOKENIZER_RETRY_SECONDS, clean, unclosed_markup


@dataclass(frozen=True)
class ExtractionConfig:
    lang: str
    namespaces: tuple[int, ...] = (0,)
    spacy_model: str | None = None
    max_page_bytes: int = 4 << 20
    page_timeout_s: float = 60.0


@dataclass
class UnitOutput:
    """Everything one work unit produces, in dump order."""

    sentences: list[dict] = field(default_factory=list)
    # (page_id, title) of every page of the kept namespaces, with or without sentences: link targets.
    articles: list[dict] = field(default_factory=list)
    redirects: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A unit's rows pile up in memory until they are written, and Python's cycle collector would
    scan them over and over (a sixth of the time of a 1,000-page unit). Extraction makes no
    reference cycles (tests/test_extraction.py checks), so refcounting frees all it drops."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class PageTimedOut(Exception):
    """Raised inside the thread that extracts a page, once the page has run past its time."""


class PageDeadline:
    """Stops a page that runs past its time, in the thread that extracts it.

    A watchdog thread looks twice a second (or more often, for short limits) and raises
    `PageTimedOut` in the late thread (CPython's asynchronous exception, as func_timeout does),
    where it takes effect at the next Python instruction: C code that never returns to Python is not
    stopped, which is what `unclosed_markup` guards against. Nothing is started or waited for per
    page; running each page in a thread of its own cost milliseconds per page, once Beam's threads
    competed for the GIL (docs/performance.md).
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._running: tuple[int, float] | None = None  # (thread id, deadline) of the page in progress
        self._watchdog: threading.Thread | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        if self._watchdog is None:
            # The watchdog holds the deadline weakly, and ends once nothing else holds it.
            self._watchdog = threading.Thread(target=_watch, args=(weakref.ref(self),), name="page-deadline",
                                              daemon=True)
            self._watchdog.start()
        with self._lock:
            self._running = (threading.get_ident(), time.monotonic() + self.seconds)
        try:
            yield
        finally:
            with self._lock:
                self._running = None

    def stop_if_late(self) -> None:
        with self._lock:
            if self._running is not None and time.monotonic() > self._running[1]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._running[0]),
                                                           ctypes.py_object(PageTimedOut))
                self._running = None  # once: the page is over either way


def _watch(deadline: "weakref.ref[PageDeadline]") -> None:
    while (watched := deadline()) is not None:
        pause = min(0.5, watched.seconds / 10)
        watched.stop_if_late()
        del watched
        time.sleep(pause)


class PageExtractor:
    """Turns pages into sentence rows, redirect rows and quarantined pages, counting each outcome.

    Every page read ends in exactly one of: `pages.emitted` or `pages.skipped.<reason>`.
    """

    def __init__(self, config: ExtractionConfig, siteinfo: Siteinfo):
        self.config = config
        self.rules = TitleRules.for_wiki(config.lang, siteinfo.case,
                                         [(ns.name, ns.key) for ns in siteinfo.namespaces])
        self.splitter = SentenceSplitter(config.lang, config.spacy_model)
        self.deadline = PageDeadline(config.page_timeout_s)

    def extract(self, pages: Iterable[Page]) -> UnitOutput:
        output = UnitOutput()
        with _collector_paused():
            for page in pages:
                output.counts["pages.read"] += 1
                self._extract_page(page, output)
        return output

    def _extract_page(self, page: Page, output: UnitOutput) -> None:
        lang, counts = self.config.lang, output.counts
        if page.redirect is not None:
            target = self.rules.classify(page.redirect)
            output.redirects.append({"lang": lang, "page_id": page.page_id, "title": page.title,
                                     "ns": page.ns, "target": target.title, "fragment": target.fragment})
            counts["pages.skipped.redirect"] += 1
            return
        if page.ns not in self.config.namespaces:
            counts["pages.skipped.namespace"] += 1
            return
        article = {"lang": lang, "page_id": page.page_id, "title": page.title, "lead_names": []}
        output.articles.append(article)
        size = len(page.text.encode("utf-8"))
        if size > self.config.max_page_bytes:
            self._quarantine(page, "too_large", f"{size} bytes of wikitext", output)
            return
        # The tokenizer's retries run in C code, which the page deadline cannot interrupt: a page that
        # would keep it past the limit is stopped before it starts.
        unclosed = unclosed_markup(page.text)
        if unclosed * len(page.text) * TOKENIZER_RETRY_SECONDS > self.config.page_timeout_s:
            self._quarantine(page, "timeout", f"{unclosed} templates, links, tables or tags never close "
                             f"in {len(page.text)} characters", output)
            return
        try:
            with self.deadline.running():
                document, sentences, crossing = self._sentences(page)
        except PageTimedOut:
            self._quarantine(page, "timeout", f"more than {self.config.page_timeout_s:g} s", output)
            return
        except Exception as exc:  # a parser blow-up on one page must not end the job
            self._quarantine(page, "parse_error", f"{type(exc).__name__}: {exc}"[:500], output)
            return
        article["lead_names"] = document.lead_names
        for reason, number in (document.dropped_links + crossing).items():
            counts[f"links.dropped.{reason}"] += number
        if not sentences:
            counts["pages.skipped.empty"] += 1
            return
        counts["pages.emitted"] += 1
        counts["sentences"] += len(sentences)
        if self.splitter.info.fallback_reason:
            counts["pages.split_by_fallback"] += 1
        for sentence in sentences:
            counts["links.emitted"] += len(sentence.links)
            output.sentences.append({
                "lang": lang, "page_id": page.page_id, "page_title": page.title,
                "sent_index": sentence.index, "text": sentence.text,
                "links": [{"start": link.start, "end": link.end, "target": link.target, "anchor": link.anchor}
                          for link in sentence.links],
            })

    def _sentences(self, page: Page):
        document = clean(page.text, self.rules)
        sentences, crossing = self.splitter.split(document)
        return document, sentences, crossing

    def _quarantine(self, page: Page, reason: str, detail: str, output: UnitOutput) -> None:
        output.counts[f"pages.skipped.{reason}"] += 1
        output.quarantine.append({"lang": self.config.lang, "page_id": page.page_id, "ns": page.ns,
                                  "title": page.title, "reason": reason, "detail": detail,
                                  "wikitext": page.text})
