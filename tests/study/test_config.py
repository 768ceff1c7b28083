"""Study configuration: TOML and YAML reading, and rejection of bad keys, types and values."""

from __future__ import annotations

import pytest

from repalign.errors import ConfigError
from repalign.study.config import StudyConfig, load_config

MINIMAL = {"stimuli": {"source": "bundled:digits", "per_class": 3}, "models": {"specs": ["zoo:*"]}}


def with_(**sections):
    return {**MINIMAL, **sections}


def test_minimal_defaults():
    cfg = load_config(MINIMAL)
    assert isinstance(cfg, StudyConfig)
    assert cfg.models.layers == ["penultimate"]
    assert cfg.executor.kind == "local"
    assert cfg.similarity is None and cfg.metamers is None  # absent sections are off
    assert cfg.features.reduce == "flatten"


def test_toml_and_yaml_give_the_same_config(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text(
        'name = "x"\nseed = 3\n[stimuli]\nsource = "bundled:digits"\nper_class = 3\n'
        '[models]\nspecs = ["zoo:*"]\n[similarity]\nreference = "ensemble:zoo:*"\n'
        'metrics = ["rsa_spearman"]\n'
    )
    yaml = tmp_path / "s.yaml"
    yaml.write_text(
        "name: x\nseed: 3\nstimuli:\n  source: bundled:digits\n  per_class: 3\n"
        "models:\n  specs: ['zoo:*']\nsimilarity:\n  reference: 'ensemble:zoo:*'\n"
        "  metrics: [rsa_spearman]\n"
    )
    a, b = load_config(toml), load_config(yaml)
    assert a == b
    assert a.digest() == b.digest()
    assert a.base_dir == tmp_path.resolve()
    assert a.resolve_path("h/t.csv") == (tmp_path / "h" / "t.csv").resolve()


def test_digest_ignores_output_but_not_content():
    a = load_config(with_(output="a"))
    b = load_config(with_(output="b"))
    c = load_config(with_(seed=1))
    assert a.digest() == b.digest() != c.digest()


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"stimuli": {"sorce": "x"}, "models": {"specs": ["a"]}}, r"stimuli\.sorce: unknown key; did you mean 'source'\?"),
        (with_(metamer={"generators": ["a"]}), r"metamer: unknown key; did you mean 'metamers'\?"),
        (with_(metamers={"generators": ["a"], "optimiser": ["adam"]}), r"metamers\.optimiser: unknown key; did you mean 'optimizers'\?"),
        (with_(seed="3"), r"seed: input should be a valid integer, received str '3'"),
        (with_(seed=1.5), r"seed: input should be a valid integer, received float 1\.5"),
        ({"stimuli": {"per_class": "3"}, "models": {"specs": ["a"]}}, r"stimuli\.per_class: .*integer, received str '3'"),
        ({"stimuli": {}, "models": {"specs": "zoo:*"}}, r"models\.specs: input should be a valid list, received str 'zoo:\*'"),
        ({"stimuli": {}, "models": {"specs": []}}, r"models\.specs: list should have at least 1 item"),
        (with_(executor={"kind": "rey"}), r"executor\.kind: did you mean 'ray'\? expected one of \['local', 'ray'\], received str 'rey'"),
        (with_(metamers={"generators": ["a"], "regularizers": ["none", 3]}), r"metamers\.regularizers\[1\]: input should be a valid string, received int 3"),
        (with_(metamers={"generators": ["a"]}, evaluation={"tests": ["twoafc"]}), r"evaluation\.tests\[0\]: did you mean 'two_afc'\?"),
        (with_(metamers={"generators": ["a"], "steps": 0}), r"metamers\.steps: input should be greater than or equal to 1, received int 0"),
        (with_(human={"triplets": {"path": "t.csv", "index_base": 2}}), r"human\.triplets\.index_base: expected one of \[0, 1\], received int 2"),
        (with_(human={"triplets": {"path": "t.csv"}}), r"human\.triplets\.index_base: required key is missing"),
        (with_(glocal={"test_fraction": 1.5}, similarity={"reference": "zoo:a"}), r"glocal\.test_fraction: input should be less than 1"),
        ({"stimuli": {}}, r"models: required key is missing"),
        (with_(similarity={}), r"similarity\.reference: 'human' needs \[human\] similarity or triplets"),
        (with_(evaluation={}), r"evaluation: evaluates metamers; add a \[metamers\] section"),
        (with_(analysis={}), r"analysis: relates few-shot transfer to alignment; add a \[similarity\] section"),
        (with_(glocal={}), r"glocal: needs human triplets"),
    ],
)
def test_bad_configs_name_the_key(data, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(data)


def test_every_problem_is_listed():
    with pytest.raises(ConfigError, match=r"\(3 problems\)") as info:
        load_config({"stimuli": {"sorce": 1, "limit": 0}, "models": {"specs": ["a"]}, "sed": 1})
    msg = str(info.value)
    assert "stimuli.sorce" in msg and "stimuli.limit" in msg and "sed: unknown key; did you mean 'seed'" in msg


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        ("bad.toml", "[stimuli\nsource = 1", r"bad\.toml is not valid TOML"),
        ("bad.yaml", "stimuli: [unclosed", r"bad\.yaml is not valid YAML"),
        ("s.json", "{}", r"expected \.toml, \.yaml or \.yml"),
        ("list.yaml", "- a\n- b\n", "must hold a mapping of sections, not list"),
        ("missing.toml", None, "does not exist"),
    ],
)
def test_unreadable_files(tmp_path, name, text, pattern):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=pattern):
        load_config(path)


def test_another_kind_of_source_is_named():
    with pytest.raises(ConfigError, match="file path, a mapping or a StudyConfig; received list"):
        load_config([MINIMAL])


def test_base_dir_is_the_file_folder_or_the_given_one(tmp_path):
    (tmp_path / "s.yaml").write_text("stimuli: {source: 'bundled:digits'}\nmodels: {specs: ['zoo:mlp_standard_s0']}\n")
    assert load_config(tmp_path / "s.yaml").base_dir == tmp_path.resolve()
    assert load_config(tmp_path / "s.yaml", base_dir=tmp_path / "d").base_dir == (tmp_path / "d").resolve()
    assert load_config(MINIMAL).resolve_path("x.csv") == (load_config(MINIMAL).base_dir / "x.csv").resolve()


def test_config_is_frozen():
    cfg = load_config(MINIMAL)
    with pytest.raises(Exception, match="frozen"):
        cfg.seed = 2  # type: ignore[misc]


def test_shipped_configurations_are_valid():
    """The demo's configuration (read the way `repalign demo` reads it) and the examples."""
    from importlib import resources
    from pathlib import Path

    with resources.as_file(resources.files("repalign.examples").joinpath("quickstart.toml")) as path:
        demo = load_config(path)
    assert demo.models.specs == ["zoo:*"] and demo.output == "repalign_demo"
    assert len(demo.metamers.regularizers) == 3 and len(demo.metamers.inits) >= 2
    assert len(demo.metamers.optimizers) == 2 and len(demo.metamers.layers) == 2
    examples = Path(__file__).resolve().parents[2] / "examples"
    for name in ("ray_study.toml", "own_models.yaml"):
        cfg = load_config(examples / name)
        assert cfg.name
    assert load_config(examples / "ray_study.toml").executor.kind == "ray"
    # the same configuration as the package's (compared without the folder each was read from,
    # which differs where repalign is installed rather than run from the source tree)
    assert load_config(examples / "quickstart.toml").model_dump() == demo.model_dump()
