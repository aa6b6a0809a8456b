"""Manifest counts: flat while a job sums them, nested in `_manifest.json`, flat again when carried on."""

from relxdata.corpora import flat_counts, nest_counts

FLAT = {"pages.read": 206, "pages.emitted": 106, "pages.skipped.redirect": 100, "sentences": 26328,
        "links.dropped.file": 936, "links.emitted": 22597}


def test_nested_counts_flatten_back_to_the_same_keys():
    nested = nest_counts(FLAT)
    assert nested["pages"] == {"emitted": 106, "read": 206, "skipped": {"redirect": 100}}
    assert flat_counts(nested) == FLAT
    assert flat_counts({}) == {}
