"""The mypyc-compiled `relxdata.wikitext` against its own source, run as pure Python.

setup.py compiles relxdata/wikitext.py where a C compiler is at hand; the source stays the
reference. Every page of every real sample, and made-up wikitext from hypothesis, must come out of
both the same: text, links, dropped links and lead names.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relxdata.wikitext as installed
from relxdata.dumps import plan_dump, read_pages
from relxdata.titles import TitleRules

from conftest import REAL_DUMPS

COMPILED = installed.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
pytestmark = pytest.mark.skipif(not COMPILED, reason="relxdata.wikitext is not compiled (RELXDATA_PURE_PYTHON=1, "
                                                     "or no C compiler when it was installed)")
# Pieces of wikitext that exercise every branch of the walk and of the rewrites after it.
PIECES = ("[[", "]]", "|", "{{", "}}", "{{{", "}}}", "''", "'''", "=", "==", "\n", " ", "  ", "\t", "\u00a0",
          "(", ")", ",", ";", ".", ":", "&nbsp;", "&#233;", "&amp", "<ref>", "</ref>", "<div>", "</div>", "<br/>",
          "<li>", "<table>", "</table>", "<!--", "-->", "{|", "|}", "[http://example.org ", "]", "__NOTOC__",
          "File:", "Category:", "de:", "Hidden:", ".jpg", "thumb", "lang", "convert", "ill", "nowrap", "Paris",
          "Île-de-France", "a_b", "#Section", "x", "42", "km", "😀", "日本")


@pytest.fixture(scope="module")
def pure() -> ModuleType:
    """relxdata/wikitext.py imported from its source, beside the compiled module."""
    spec = importlib.util.spec_from_file_location("relxdata_wikitext_pure", Path(installed.__file__).with_name("wikitext.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def cleaned(module: ModuleType, wikitext: str, rules: TitleRules) -> tuple:
    return dataclasses.astuple(module.clean(wikitext, rules))


def test_the_pure_module_is_the_source(pure):
    assert pure.__file__.endswith("wikitext.py")
    assert type(pure.clean) is not type(installed.clean)  # a Python function, and a compiled one


@pytest.mark.parametrize("sample, lang, allow_truncated", REAL_DUMPS, ids=[sample for sample, *_ in REAL_DUMPS])
def test_every_real_page_comes_out_the_same(pure, wikipedia, sample, lang, allow_truncated):
    plan = plan_dump(str(wikipedia / sample), allow_truncated=allow_truncated)
    rules = TitleRules.for_wiki(lang, plan.siteinfo.case, [(ns.name, ns.key) for ns in plan.siteinfo.namespaces])
    pages = [page for page in read_pages(plan) if page.redirect is None]
    assert pages
    for page in pages:
        assert cleaned(installed, page.text, rules) == cleaned(pure, page.text, rules), page.title


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
def test_made_up_wikitext_comes_out_the_same(pure, wikitext):
    rules = TitleRules.for_wiki("en")
    assert cleaned(installed, wikitext, rules) == cleaned(pure, wikitext, rules)
