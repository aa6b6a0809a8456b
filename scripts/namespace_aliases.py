"""Generate relxdata/data/namespace-aliases.json from MediaWiki core's language files.

Every local name and alias that MediaWiki accepts for the Media (-2), File (6) and Category (14)
namespaces, per language, as MediaWiki itself resolves them:

- the language's `$namespaceNames`, a fallback language's filling in the namespaces it lacks,
  then English (`$fallback` is a comma-separated chain; English ends every chain);
- the `$namespaceAliases` and `$namespaceGenderAliases` of the language and of its whole chain
  (LocalisationCache merges these maps over the chain);
- for a language with variants (zh, sr, kk, ...), each variant's namespace names, which
  Language::getNamespaceAliases adds as aliases;
- a later source overrides an earlier one for the same lower-cased name, as in
  Language::getNamespaceIds (names first, then aliases).

Wikipedia language codes that MediaWiki maps to another language (als -> gsw, simple -> en,
no -> nb, be-x-old -> be-tarask ...) get the entry of that language, read from MediaWiki's
LanguageCode.php and MainConfigSchema.php. The English canonical names (File, Image, Media,
Category) are valid on every wiki and live in relxdata.titles.CANONICAL_NAMESPACES, not here.

Site-specific aliases of single wikis ($wgNamespaceAliases in Wikimedia's configuration) are not
MediaWiki core's and are not read: a dump's <siteinfo> lists them.

Get MediaWiki without installing it (Debian's package; any release's tarball unpacks the same):

    apt-get download mediawiki && dpkg -x mediawiki_*.deb /tmp/mw
    python scripts/namespace_aliases.py /tmp/mw/usr/share/mediawiki
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# The namespaces whose links relxdata must recognise to drop them with their captions.
WANTED_NAMESPACES = {-2: "Media", 6: "File", 14: "Category"}
OUTPUT = Path(__file__).resolve().parent.parent / "relxdata" / "data" / "namespace-aliases.json"

_DEFINE = re.compile(r"define\(\s*'(NS_[A-Z_]+)'\s*,\s*(-?\d+|NS_[A-Z_]+)\s*\)")
_TOKEN = re.compile(r"""\s+|//[^\n]*|\#[^\n]*|/\*.*?\*/|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|=>|[\[\](),]|"""
                    r"""array\b|-?\d+|[A-Za-z_][A-Za-z0-9_]*""", re.S)
_DOUBLE_QUOTED_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$", "'": "\\'"}


def namespace_constants(mediawiki: Path) -> dict[str, int]:
    """NS_* constants from includes/Defines.php (NS_IMAGE is defined as NS_FILE)."""
    constants: dict[str, int] = {}
    for name, value in _DEFINE.findall((mediawiki / "includes" / "Defines.php").read_text(encoding="utf-8")):
        constants[name] = constants[value] if value.startswith("NS_") else int(value)
    return constants


def _string(literal: str) -> str:
    body = literal[1:-1]
    if literal[0] == "'":
        return re.sub(r"\\([\\'])", r"\1", body)
    return re.sub(r"\\(.)", lambda m: _DOUBLE_QUOTED_ESCAPES.get(m[1], m[0]), body)


def _tokens(source: str, start: int) -> list[str]:
    """The PHP tokens from `start` to the end of the statement's outermost array literal."""
    found, depth, position = [], 0, start
    while True:
        match = _TOKEN.match(source, position)
        if match is None:
            raise ValueError(f"unexpected PHP at {source[position:position + 40]!r}")
        position, token = match.end(), match[0]
        if token[0].isspace() or token[:2] in ("//", "/*") or token[0] == "#":
            continue
        found.append(token)
        if token in ("[", "("):
            depth += 1
        elif token in ("]", ")"):
            depth -= 1
            if depth == 0:
                return found


def _value(tokens: list[str], index: int, constants: dict[str, int]):
    """The PHP value at tokens[index] (a string, a number, a constant or an array), and the next index."""
    token = tokens[index]
    if token == "array":
        return _value(tokens, index + 1, constants)
    if token in ("[", "("):
        closing = "]" if token == "[" else ")"
        array, index = {}, index + 1
        while tokens[index] != closing:
            key, index = _value(tokens, index, constants)
            if tokens[index] == "=>":
                value, index = _value(tokens, index + 1, constants)
                array[key] = value
            else:
                array[len(array)] = key
            if tokens[index] == ",":
                index += 1
        return array, index + 1
    if token[0] in "'\"":
        return _string(token), index + 1
    if token.startswith("NS_"):
        return constants[token], index + 1
    return int(token), index + 1


def php_assignment(source: str, variable: str, constants: dict[str, int]):
    """The array assigned to `$variable` at the top of a Messages*.php file, or None."""
    match = re.search(rf"^\${variable}\s*=\s*", source, re.M)
    if match is None:
        return None
    return _value(_tokens(source, match.end()), 0, constants)[0]


def scalar_assignment(source: str, variable: str) -> str | None:
    match = re.search(rf"""^\${variable}\s*=\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*;""", source, re.M)
    return _string(match[1]) if match else None


def read_languages(mediawiki: Path, constants: dict[str, int]) -> dict[str, dict]:
    """Each language code's fallback chain, namespace names, aliases and gender aliases."""
    languages = {}
    for path in sorted((mediawiki / "languages" / "messages").glob("Messages*.php")):
        code = path.stem.removeprefix("Messages").lower().replace("_", "-")
        source = path.read_text(encoding="utf-8")
        fallback = scalar_assignment(source, "fallback") or ""
        languages[code] = {
            "fallback": [part.strip() for part in fallback.split(",") if part.strip()],
            "names": php_assignment(source, "namespaceNames", constants) or {},
            "aliases": php_assignment(source, "namespaceAliases", constants) or {},
            "gender": php_assignment(source, "namespaceGenderAliases", constants) or {},
        }
    return languages


def language_variants(mediawiki: Path) -> dict[str, list[str]]:
    """Each language with a converter, and its variants (getLanguageVariants of its converter)."""
    variants = {}
    for path in (mediawiki / "includes" / "language" / "converters").glob("*Converter.php"):
        source = path.read_text(encoding="utf-8")
        body = re.search(r"function getLanguageVariants\(\)[^{]*\{\s*return\s*\[(.*?)\];", source, re.S)
        if body:
            codes = re.findall(r"'([^']+)'", body[1])
            variants[codes[0]] = codes[1:]
    return variants


def code_mappings(mediawiki: Path) -> dict[str, str]:
    """Deprecated and extra language codes and the MediaWiki language each stands for."""
    mapping = {}
    for relative, start in (("includes/language/LanguageCode.php", "DEPRECATED_LANGUAGE_CODE_MAPPING = ["),
                            ("includes/MainConfigSchema.php", "const ExtraLanguageCodes = [")):
        source = (mediawiki / relative).read_text(encoding="utf-8")
        block = source[source.index(start):]
        block = block[:block.index("]")]
        mapping.update(re.findall(r"'([a-z-]+)'\s*=>\s*'([a-z-]+)'", block))
    return mapping


def chain(code: str, languages: dict[str, dict]) -> list[str]:
    """The language and its fallbacks, English last, as LocalisationCache orders them."""
    order = [code] + languages[code]["fallback"]
    return [c for c in dict.fromkeys(order + ["en"]) if c in languages]


def accepted_names(code: str, languages: dict[str, dict], variants: dict[str, list[str]]) -> dict[str, int]:
    """Every namespace name and alias the language accepts, by MediaWiki's lower-cased key."""

    def merged_names(language: str) -> dict[int, str]:
        names: dict[int, str] = {}
        for fallback in chain(language, languages):
            for key, name in languages[fallback]["names"].items():
                names.setdefault(key, name)
        return names

    ids: dict[str, int] = {}
    names = merged_names(code)
    aliases: dict[str, int] = {}
    for fallback in chain(code, languages):
        for alias, key in languages[fallback]["aliases"].items():
            aliases.setdefault(alias, key)
        for key, forms in languages[fallback]["gender"].items():
            for form in forms.values():
                aliases.setdefault(form, key)
    for variant in variants.get(code, []):
        if variant in languages:
            for key, name in merged_names(variant).items():
                aliases.setdefault(name, key)  # the language's own aliases win ($aliases + $convertedNames)
    for key, name in names.items():
        ids[_display(name).lower()] = key
    for alias, key in aliases.items():
        ids[_display(alias).lower()] = key
    # Keep each name's spelling: the lower-cased key is only MediaWiki's way to compare.
    spelled = {_display(name).lower(): _display(name) for name in list(names.values()) + list(aliases)}
    return {spelled[key]: namespace for key, namespace in ids.items() if namespace in WANTED_NAMESPACES}


def _display(name: str) -> str:
    return name.replace("_", " ").strip()


def build(mediawiki: Path) -> dict:
    constants = namespace_constants(mediawiki)
    languages = read_languages(mediawiki, constants)
    variants = language_variants(mediawiki)
    canonical = {"media": -2, "file": 6, "image": 6, "category": 14}
    table: dict[str, dict[str, list[str]]] = {}
    for code in languages:
        local = {name: key for name, key in accepted_names(code, languages, variants).items()
                 if canonical.get(name.lower()) != key}
        if local:
            table[code] = {str(key): sorted(name for name, k in local.items() if k == key)
                           for key in sorted(WANTED_NAMESPACES) if key in local.values()}
    for wiki_code, language in sorted(code_mappings(mediawiki).items()):
        if language in table and wiki_code not in table:
            table[wiki_code] = table[language]
    version = re.search(r"define\( 'MW_VERSION', '([^']+)' \)",
                        (mediawiki / "includes" / "Defines.php").read_text(encoding="utf-8"))[1]
    return {
        "_comment": "Local names and aliases of the Media (-2), File (6) and Category (14) namespaces that "
                    "MediaWiki core accepts, by language code (MediaWiki's and Wikipedia's). The English "
                    "canonical names are valid everywhere and not repeated. Generated by "
                    "scripts/namespace_aliases.py; do not edit by hand.",
        "source": f"MediaWiki {version}: languages/messages/Messages*.php, includes/language/converters, "
                  "includes/language/LanguageCode.php, includes/MainConfigSchema.php",
        "namespaces": table,
    }


def to_json(data: dict) -> str:
    """The data with one language a line, so that a regeneration's diff shows which languages changed."""
    table = data["namespaces"]
    languages = ",\n".join(f"  {json.dumps(code)}: {json.dumps(table[code], ensure_ascii=False, sort_keys=True)}"
                           for code in sorted(table))
    head = json.dumps({key: value for key, value in data.items() if key != "namespaces"}, ensure_ascii=False,
                      indent=1, sort_keys=True)
    return f'{head[:-2]},\n "namespaces": {{\n{languages}\n }}\n}}\n'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mediawiki", type=Path, help="an unpacked MediaWiki (the folder holding languages/)")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    data = build(args.mediawiki)
    args.out.write_text(to_json(data), encoding="utf-8")
    names = sum(len(names) for entry in data["namespaces"].values() for names in entry.values())
    print(f"{args.out}: {len(data['namespaces'])} language codes, {names} names", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
