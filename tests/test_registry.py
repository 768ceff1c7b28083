from dataclasses import dataclass

import pytest

from repalign._registry import Registry, Summary
from repalign.errors import RepalignError, UnknownNameError


@dataclass(frozen=True)
class _Info:
    kind: str = "similarity"


def test_register_get_list_and_info():
    reg: Registry = Registry("metric", _Info)

    @reg.register("rsa_pearson", kind="distance")
    def f():
        return 1

    reg.register("rsa_spearman", lambda: 2)
    assert reg.get("rsa_pearson") is f
    assert reg.list() == ["rsa_pearson", "rsa_spearman"]
    assert reg.list("*spear*") == ["rsa_spearman"]
    assert reg.info("rsa_pearson") == _Info("distance")
    assert reg.info("rsa_spearman").kind == "similarity"  # the dataclass's default
    assert "rsa_pearson" in reg and len(reg) == 2
    # callables pass through
    g = lambda: 3  # noqa: E731
    assert reg.get(g) is g


def test_unknown_name_lists_valid_and_closest():
    reg: Registry = Registry("metric", Summary)
    reg.register("rsa_pearson", 1)
    reg.register("cka_linear", 2)
    with pytest.raises(UnknownNameError, match=r"Did you mean 'rsa_pearson'.*Valid metric names: cka_linear, rsa_pearson"):
        reg.get("rsa_pearsn")
    # the error is also a KeyError and a RepalignError
    with pytest.raises(KeyError):
        reg.get("nope")
    with pytest.raises(RepalignError):
        reg.get("nope")


def test_double_registration_refused():
    reg: Registry = Registry("init", Summary)
    reg.register("noise", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("noise", 2)


def test_metadata_fields_are_checked_at_registration():
    reg: Registry = Registry("init", Summary)
    with pytest.raises(TypeError, match=r"init 'noise'.*the metadata fields are \['summary'\]"):
        reg.register("noise", 1, sumary="typo")
    assert "noise" not in reg


def test_parse_reads_the_spec_grammar_and_checks_the_name():
    from repalign.errors import SpecError

    reg: Registry = Registry("init", Summary)
    reg.register("blend", 1)
    assert reg.parse("blend:alpha=0.5") == ("blend", {"alpha": 0.5})
    with pytest.raises(UnknownNameError, match="Did you mean 'blend'"):
        reg.parse("blnd:alpha=0.5")
    with pytest.raises(SpecError, match="init spec"):
        reg.parse("blend:alpha==")
    with pytest.raises(SpecError, match="without parts"):
        reg.parse("blend(a)")
