"""Property tests of the spec grammar (hypothesis, a dev dependency): format(parse(s)) == s."""

from __future__ import annotations

import re

import pytest

from repalign.specs import Spec, format_spec, format_value, parse_spec, parse_value

pytest.importorskip("hypothesis", reason="hypothesis (the dev extra) runs the property tests")
from hypothesis import given, settings
from hypothesis import strategies as st

# -- strategies: canonical specs ------------------------------------------------------------
_word_chars = st.characters(blacklist_characters=' ,:()[]"=', blacklist_categories=("Zs", "Cc"))
_words = st.text(_word_chars, min_size=1, max_size=8)
_names = st.lists(_words, min_size=1, max_size=3).map(":".join)
_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
_scalars = (
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False) | st.text(max_size=10)
)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=10)
_options = st.dictionaries(_keys, _values, max_size=4)
_specs = st.recursive(
    st.builds(Spec, _names, _options),
    lambda inner: st.builds(Spec, _names, _options, st.lists(inner, min_size=1, max_size=3).map(tuple)),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(_specs)
def test_format_parse_round_trip(spec):
    text = format_spec(spec)
    parsed = parse_spec(text)
    assert parsed == spec
    assert format_spec(parsed) == text


@settings(max_examples=150, deadline=None)
@given(_values)
def test_values_round_trip(value):
    assert parse_value(format_value(value)) == value


@settings(max_examples=100, deadline=None)
@given(_specs)
def test_spaces_around_punctuation_are_ignored(spec):
    text = format_spec(spec)
    spaced = re.sub(r"([,=()\[\]])", r" \1 ", text) if '"' not in text else text
    assert format_spec(parse_spec(spaced)) == text
