"""Literal values as a wiki writes them: the spans to look for when a label's entity_2 is a value.

A knowledge base stores a population as 3520031 and a length as 6650000.0 (metres); an article
writes "3,520,031" (English), "3.520.031" (German), "6,650 km" or "4,130 mi". `renderings` gives
the ways one value is written in one language, from the locale data of CLDR (through Babel): digit
grouping, decimal signs, month names and date patterns; units and their common conversions. The
matcher looks for every rendering and keeps the longest match, so a full date wins over its year.
"""

from __future__ import annotations

import datetime
import re
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal

from relxdata.kb import Literal

# Spaces that locales group digits with, written as plain spaces in extracted text.
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})
_DATE = re.compile(r"(-?\d{1,4})-(\d{1,2})-(\d{1,2})(?:[TZ+].*)?")
_YEAR = re.compile(r"(-?\d{1,4})(?:-.*)?")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# English words for units, which many wikis use, and those of the SMiLER languages that differ.
UNIT_WORDS = {
    "m": ("m", "metres", "meters", "metre", "meter", "Meter", "mètres", "metros", "metri", "meter", "metrów", "метров",
          "метрів", "متر"),
    "km": ("km", "kilometres", "kilometers", "Kilometer", "kilomètres", "kilómetros", "chilometri", "kilometer",
           "kilometrów", "километров", "кілометрів", "كم", "کیلومتر"),
    "cm": ("cm", "centimetres", "centimeters", "Zentimeter"),
    "ft": ("ft", "feet", "foot"),
    "mi": ("mi", "miles", "mile"),
    "kg": ("kg", "kilograms", "kilogrammes", "Kilogramm", "kilogrammes", "kilogramos", "chilogrammi"),
    "t": ("t", "tonnes", "tons", "Tonnen"),
    "lb": ("lb", "lbs", "pounds"),
    "g": ("g", "grams", "grammes", "Gramm"),
    "years": ("years", "year", "Jahre", "Jahren", "ans", "años", "anni", "jaar", "anos", "år", "lat", "лет", "років",
              "سنة", "سال", "년"),
}
# A value in the knowledge base's unit -> (unit, factor) pairs it is commonly written in.
CONVERSIONS = {
    "length": (("m", 1.0), ("km", 0.001), ("cm", 100.0), ("ft", 3.280839895), ("mi", 0.000621371192)),
    "mass": (("kg", 1.0), ("t", 0.001), ("g", 1000.0), ("lb", 2.2046226218)),
    "years": (("years", 1.0),),
}


@lru_cache(maxsize=None)
def _locale(lang: str) -> Locale:
    try:
        return Locale.parse(lang.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def number_texts(number: float, lang: str, decimals: int | None = None) -> list[str]:
    """How `number` may be written: plain, with the locale's grouping and decimal sign, and with the
    grouping marks wikis commonly type (`,` `.` space); rounded to `decimals` when given."""
    if decimals is not None:
        number = round(number, decimals)
    whole = float(number).is_integer()
    if whole:
        plain = str(int(number))
    else:
        plain = f"{number:.{decimals if decimals is not None else 6}f}".rstrip("0").rstrip(".")
    integer, _, fraction = plain.partition(".")
    sign = "-" if integer.startswith("-") else ""
    digits = integer.lstrip("-")
    groups = [digits[max(0, i - 3):i] for i in range(len(digits), 0, -3)][::-1]
    texts = {plain}
    for group_mark in (",", ".", " "):
        for decimal_mark in (".", ","):
            if group_mark == decimal_mark:
                continue
            grouped = sign + group_mark.join(groups)
            texts.add(grouped + (decimal_mark + fraction if fraction else ""))
            texts.add(integer + (decimal_mark + fraction if fraction else ""))
    locale = _locale(lang)
    texts.add(format_decimal(number, locale=locale).translate(_SPACES))
    native = locale.other_numbering_systems.get("native", "latn")
    if native != "latn":  # Persian and Arabic wikis often write their own digits
        texts.add(format_decimal(number, locale=locale, numbering_system=native).translate(_SPACES))
    return sorted(texts, key=lambda text: (-len(text), text))


def _significant(amount: float, digits: int) -> float:
    return float(f"{amount:.{digits}g}")


def _with_units(amounts: list[tuple[float, str]], lang: str) -> list[str]:
    texts = []
    for exact, unit in amounts:
        # A conversion is rounded, to decimals or to significant digits ({{convert}}: 6,650 km (4,130 mi)),
        # but only so far: 1.93 m is not "2 m".
        roundings = {(round(exact, decimals), decimals) for decimals in (0, 1, 2)}
        roundings |= {(_significant(exact, digits), None) for digits in (2, 3)}
        for amount, decimals in sorted(roundings, key=repr):
            if abs(amount - exact) > 0.01 * exact:
                continue
            for number in number_texts(amount, lang, decimals):
                for word in UNIT_WORDS[unit]:
                    texts.extend((f"{number} {word}", f"{number}{word}"))
    return texts


def renderings(value: Literal, kind: str, lang: str) -> list[str]:
    """The spans that may write `value` (a literal of a `kind` label) in language `lang`, longest
    first; empty when the value cannot be read (a date like "1873-6-31", a year like "0003")."""
    text = value.value.strip()
    if kind == "text":
        return [text] if text else []
    if kind in ("year", "date"):
        return _date_texts(text, lang, full=kind == "date" and value.datatype != "xsd:gYear")
    number = _NUMBER.fullmatch(text)
    if number is None:
        return []
    amount = float(number[0])
    if kind == "count":
        return number_texts(round(amount), lang) if amount >= 1 else []
    if kind in CONVERSIONS:
        if amount <= 0:
            return []
        amounts = [(amount * factor, unit) for unit, factor in CONVERSIONS[kind]]
        return sorted(set(_with_units(amounts, lang)), key=lambda t: (-len(t), t))
    raise ValueError(f"unknown value kind {kind!r}")


def _date_texts(text: str, lang: str, full: bool) -> list[str]:
    found = _DATE.fullmatch(text) if full else None
    year_match = _YEAR.fullmatch(text)
    if year_match is None:
        return []
    year = int(year_match[1])
    if year < 100:  # "0003"^^xsd:gYear is an extraction error, not a year of the Roman empire
        return []
    texts = [str(year)]
    if found is not None:
        try:
            day = datetime.date(year, int(found[2]), int(found[3]))
        except ValueError:
            return texts
        locale = _locale(lang)
        forms = {day.isoformat()}
        for variant in {locale, *(_locale(f"{lang}_{region}") for region in ("GB", "US") if lang == "en")}:
            for pattern in ("long", "medium"):
                written = format_date(day, pattern, locale=variant).translate(_SPACES)
                forms.add(written)
                forms.add(written[:max(i for i, ch in enumerate(written) if ch.isdigit()) + 1])  # "1865 г." -> "1865"
        texts = sorted(forms, key=lambda t: (-len(t), t)) + texts
    return texts
