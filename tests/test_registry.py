import pytest

from repalign._registry import Registry
from repalign.errors import RepalignError, UnknownNameError


def test_register_get_list_and_info():
    reg: Registry = Registry("metric")

    @reg.register("rsa_pearson", kind="similarity")
    def f():
        return 1

    reg.register("rsa_spearman", lambda: 2)
    assert reg.get("rsa_pearson") is f
    assert reg.list() == ["rsa_pearson", "rsa_spearman"]
    assert reg.list("*spear*") == ["rsa_spearman"]
    assert reg.info("rsa_pearson") == {"kind": "similarity"}
    assert "rsa_pearson" in reg and len(reg) == 2
    # callables pass through
    g = lambda: 3  # noqa: E731
    assert reg.get(g) is g


def test_unknown_name_lists_valid_and_closest():
    reg: Registry = Registry("metric")
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
    reg: Registry = Registry("init")
    reg.register("noise", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("noise", 2)
