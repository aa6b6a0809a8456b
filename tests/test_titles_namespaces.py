"""MediaWiki core's local File, Media and Category namespace names, for dumps whose <siteinfo> lacks them."""

import importlib.util
from pathlib import Path

import pytest

from relxdata import titles
from relxdata.titles import LinkKind, TitleRules, core_namespace_names
from relxdata.wikitext import clean

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "namespace_aliases.py"


def test_reported_languages_have_their_core_names():
    names = core_namespace_names()
    assert names["af"] == {"6": ["Beeld", "Lêer"], "14": ["Kategorie"]}
    assert names["am"] == {"-2": ["ፋይል"], "6": ["ስዕል"], "14": ["መደብ"]}
    # an falls back to es: es's aliases count, es's names do not (MediaWiki merges only the aliases).
    assert names["an"] == {"6": ["Imachen", "Imagen"], "14": ["Categoría"]}
    assert names["ast"]["6"] == ["Archivu", "Ficheru", "Imagen", "Imaxe", "Imaxen"]
    assert names["ru"]["6"] == ["Изображение", "Файл"]
    assert names["uk"]["6"] == ["Зображення", "Изображение", "Файл"]


def test_variants_and_wikipedia_codes_are_covered():
    names = core_namespace_names()
    # zh accepts the names of each of its variants (Language::getNamespaceAliases).
    assert {"文件", "檔案", "图像", "圖像"} <= set(names["zh"]["6"])
    assert set(names["sr"]["6"]) == {"Datoteka", "Slika", "Датотека", "Слика"}
    # Wikipedia's codes for MediaWiki's languages: als is gsw, no is nb, be-x-old is be-tarask.
    assert names["als"] == names["gsw"] and names["no"] == names["nb"] and names["be-x-old"] == names["be-tarask"]
    assert "simple" not in names and "en" not in names  # English names are canonical everywhere
    assert len(names) == 401


@pytest.mark.parametrize("lang, target, kind", [
    ("af", "Lêer:Foo.jpg", LinkKind.FILE),
    ("af", "lêer:Foo.jpg", LinkKind.FILE),          # MediaWiki compares namespace names lower-cased
    ("af", "LÊER:Foo.jpg", LinkKind.FILE),
    ("am", "ስዕል:Bar.png", LinkKind.FILE),
    ("an", "Imachen:Mapa.svg", LinkKind.FILE),
    ("ast", "Ficheru:Mapa_de_Asturies.png", LinkKind.FILE),
    ("ast", "Imaxe:Mapa.png", LinkKind.FILE),
    ("uk", "Файл:Y.jpg", LinkKind.FILE),
    ("zh-yue", "檔:Y.jpg", LinkKind.FILE),
    ("be_x_old", "Выява:Y.jpg", LinkKind.FILE),
    ("af", "Kategorie:Stede", LinkKind.CATEGORY),
    ("am", "መደብ:ከተማ", LinkKind.CATEGORY),
    ("ast", "Medios:Son.ogg", LinkKind.OTHER_NAMESPACE),  # Media links show their label, like other namespaces
    ("ast", ":Ficheru:Mapa.png", LinkKind.OTHER_NAMESPACE),
    ("an", "Archivo:Mapa.svg", LinkKind.ARTICLE),  # es's name, not one of an's: MediaWiki makes it an article
    ("en", "Lêer:Foo.jpg", LinkKind.ARTICLE),
])
def test_core_names_classify_without_siteinfo(lang, target, kind):
    assert TitleRules.for_wiki(lang).classify(target).kind is kind


def test_siteinfo_still_has_the_last_word():
    rules = TitleRules.for_wiki("af", namespace_names=[("Lêer", 100)])
    assert rules.classify("Lêer:Foo").kind is LinkKind.OTHER_NAMESPACE


@pytest.mark.parametrize("lang, wikitext", [
    ("af", "Voor. [[Lêer:Foo.jpg|duimnael|links|Die [[stad]]]] Na."),
    ("am", "Voor. [[ስዕል:Bar.png|250px|caption]] Na."),
    ("an", "Voor. [[Imachen:Mapa.svg]] Na."),
    ("ast", "Voor. [[Ficheru:Mapa de Asturies.png|eta|250px|<center>Mapa</center>]] Na."),
    ("uk", "Voor. [[файл:Y.jpg|міні|праворуч|Підпис]] Na."),
])
def test_reported_file_links_are_files_not_shapes(lang, wikitext):
    document = clean(wikitext, TitleRules.for_wiki(lang))
    assert document.text == "Voor. Na."
    assert document.links == [] and document.dropped_links == {"file": 1}


def test_a_forced_link_to_a_file_page_of_an_unknown_alias_is_caught_by_its_shape():
    document = clean("Auflage 1854 ([[:Datei:Ueber das Sehn und die Farben.pdf|Commons]]).", TitleRules.for_wiki("en"))
    assert document.links == [] and document.dropped_links == {"file_by_shape": 1}


@pytest.fixture
def without_hand_tables(monkeypatch):
    """relxdata's hand-kept alias tables (wikis.json) off: only MediaWiki core's names are left."""
    conventions = dict(titles.wiki_conventions(), file_namespace={}, category_namespace={})
    monkeypatch.setattr(titles, "wiki_conventions", lambda: conventions)


@pytest.mark.parametrize("lang, files, categories", [("de", 80, 36), ("fr", 48, 24), ("es", 28, 3), ("tr", 23, 2)])
def test_real_minidumps_on_an_english_siteinfo(wikipedia, without_hand_tables, lang, files, categories):
    """DBpedia's mini dumps carry the English <siteinfo>: the local names come from MediaWiki core's alone."""
    from relxdata.dumps import plan_dump, read_pages

    plan = plan_dump(str(wikipedia / "minidumps" / f"{lang}wiki.xml.bz2"))
    assert plan.siteinfo.dbname == "enwiki"
    rules = TitleRules.for_wiki(lang, plan.siteinfo.case, [(ns.name, ns.key) for ns in plan.siteinfo.namespaces])
    local = {name.casefold() for names in core_namespace_names()[lang].values() for name in names}
    dropped, emitted = {"file": 0, "category": 0, "file_by_shape": 0}, []
    for page in read_pages(plan):
        if page.ns == 0 and not page.redirect:
            document = clean(page.text, rules)
            for kind in dropped:
                dropped[kind] += document.dropped_links[kind]
            emitted += [link.target for link in document.links]
    assert dropped == {"file": files, "category": categories, "file_by_shape": 0}
    assert [target for target in emitted if target.partition(":")[0].casefold() in local] == []


def _generator():
    spec = importlib.util.spec_from_file_location("namespace_aliases", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_reads_php_as_mediawiki_writes_it():
    """Lines as they stand in MediaWiki's Messages*.php files: both quotes, escapes, comments, nesting."""
    generator = _generator()
    constants = {"NS_MEDIA": -2, "NS_FILE": 6, "NS_USER": 2, "NS_CATEGORY": 14}
    source = """<?php
$fallback = 'es';
$namespaceNames = [
\tNS_MEDIA            => "Yɛwliɖonuji",
\tNS_FILE             => 'Ta\\'ãnga', # a comment
];
$namespaceAliases = array(
\t// Aliases
\t"Berkas" => NS_FILE,
\t'Rang' => NS_CATEGORY
);
$namespaceGenderAliases = [
\tNS_USER => [ 'male' => 'Benutzer', 'female' => 'Benutzerin' ],
];
"""
    assert generator.scalar_assignment(source, "fallback") == "es"
    assert generator.php_assignment(source, "namespaceNames", constants) == {-2: "Yɛwliɖonuji", 6: "Ta'ãnga"}
    assert generator.php_assignment(source, "namespaceAliases", constants) == {"Berkas": 6, "Rang": 14}
    assert generator.php_assignment(source, "namespaceGenderAliases", constants) == {
        2: {"male": "Benutzer", "female": "Benutzerin"}}
    assert generator.php_assignment(source, "magicWords", constants) is None


def test_generator_resolves_fallbacks_and_variants_as_mediawiki_does():
    generator = _generator()
    languages = {
        "en": {"fallback": [], "names": {6: "File", 14: "Category"}, "aliases": {"Image": 6}, "gender": {}},
        "es": {"fallback": [], "names": {6: "Archivo"}, "aliases": {"Imagen": 6}, "gender": {}},
        "an": {"fallback": ["es"], "names": {6: "Imachen"}, "aliases": {}, "gender": {}},
        "sr": {"fallback": ["sr-ec"], "names": {}, "aliases": {}, "gender": {}},
        "sr-ec": {"fallback": [], "names": {6: "Датотека"}, "aliases": {}, "gender": {}},
        "sr-el": {"fallback": ["sr"], "names": {6: "Datoteka"}, "aliases": {}, "gender": {}},
    }
    variants = {"sr": ["sr-ec", "sr-el"]}
    assert generator.accepted_names("an", languages, variants) == {"Imachen": 6, "Imagen": 6, "Image": 6,
                                                                   "Category": 14}
    assert generator.accepted_names("sr", languages, variants) == {"Датотека": 6, "Datoteka": 6, "Image": 6,
                                                                   "Category": 14}
