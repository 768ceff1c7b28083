"""Every model source, offline: random-initialised (or fabricated) models whose outputs equal a
hand-written forward of the same library model with the same weights and preprocessing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import repalign as ra
from repalign.models import Model, default_layers
from repalign.models.sources import SOURCES


def _normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
OPENAI = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))


def _torchvision(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Model, Callable[[torch.Tensor], torch.Tensor]]:
    import torchvision

    torch.manual_seed(0)
    m = ra.create_model("torchvision:resnet18", pretrained=False, device="cpu", image_size=64)
    torch.manual_seed(0)
    ref = torchvision.models.resnet18().eval()
    return m, lambda x: ref(_normalize(x, *IMAGENET))


def _timm(tmp_path: Path, request: pytest.FixtureRequest):
    import timm

    torch.manual_seed(1)
    m = ra.create_model("timm:resnet18", pretrained=False, device="cpu", image_size=64)
    torch.manual_seed(1)
    ref = timm.create_model("resnet18", pretrained=False).eval()
    return m, lambda x: ref(_normalize(x, *IMAGENET))


TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
}


def _open_clip(tmp_path: Path, request: pytest.FixtureRequest):
    open_clip = pytest.importorskip("open_clip")
    cfg = tmp_path / "repalign-tiny-clip.json"
    cfg.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(cfg)
    torch.manual_seed(2)
    m = ra.create_model("open_clip:repalign-tiny-clip", pretrained=False, device="cpu")
    torch.manual_seed(2)
    ref = open_clip.create_model("repalign-tiny-clip", pretrained=None).eval()
    assert m.input_size == (3, 32, 32)
    return m, lambda x: ref.encode_image(_normalize(x, *OPENAI))


TINY_VIT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 64, "image_size": 32, "patch_size": 8}


def _hf(tmp_path: Path, request: pytest.FixtureRequest):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(3)
    m = ra.create_model("hf:vit", pretrained=False, device="cpu", config=TINY_VIT)
    torch.manual_seed(3)
    ref = transformers.ViTModel(transformers.ViTConfig(**TINY_VIT)).eval()
    # the vit image processor normalises with mean = std = 0.5
    return m, lambda x: ref(pixel_values=(x - 0.5) / 0.5).pooler_output


def _file(tmp_path: Path, request: pytest.FixtureRequest):
    import torchvision

    torch.manual_seed(4)
    ref = torchvision.models.resnet18(num_classes=10).eval()
    torch.save({"state_dict": ref.state_dict()}, tmp_path / "net.pt")
    m = ra.create_model(f"file:{tmp_path / 'net.pt'}?arch=resnet18&num_classes=10", device="cpu", image_size=64)
    return m, lambda x: ref(_normalize(x, *IMAGENET))


def _zoo(tmp_path: Path, request: pytest.FixtureRequest):
    from repalign.models.zoo import build_network
    from repalign.models.zoo.store import builtin_dir

    # the shipped checkpoint read by hand: torch.load, the architecture of its config, float32
    # weights, and the documented normalisation (x - 0.3) / 0.33
    path = builtin_dir() / "cnn_standard_s0.pt"
    blob = torch.load(path, map_location="cpu", weights_only=True)
    cfg = blob["meta"]["config"]
    ref = build_network(cfg["arch"], width=cfg["width"], depth=cfg["depth"]).eval()
    ref.load_state_dict({k: v.float() if v.is_floating_point() else v
                         for k, v in blob["state_dict"].items()})
    m = ra.create_model("zoo:cnn_standard_s0", device="cpu")
    assert m.meta["checkpoint"] == str(path) and m.input_size == (1, 32, 32)
    return m, lambda x: ref((x - 0.3) / 0.33)


def _dreamsim(tmp_path: Path, request: pytest.FixtureRequest):
    pytest.importorskip("dreamsim")
    import dreamsim

    folder = request.getfixturevalue("tiny_dreamsim")
    m = ra.create_model("dreamsim:clip_vitb32", device="cpu")
    with pytest.warns(UserWarning, match="peft_config"):  # the package's own loader warns
        ref, _ = dreamsim.dreamsim(pretrained=True, device="cpu", cache_dir=str(folder),
                                   dreamsim_type="clip_vitb32")
    assert m.input_size == (3, 224, 224)
    return m, lambda x: ref.embed(x)


def _harmonized(tmp_path: Path, request: pytest.FixtureRequest):
    import torchvision

    from repalign.models.sources import harmonized_source

    def small_vgg() -> torch.nn.Module:  # torchvision's VGG class, narrow (vgg16 is 138 M parameters)
        net = torchvision.models.VGG(torchvision.models.vgg.make_layers([4, "M", 8, "M"]), init_weights=False)
        net.classifier = torch.nn.Sequential(torch.nn.Linear(8 * 49, 16), torch.nn.ReLU(), torch.nn.Dropout(),
                                             torch.nn.Linear(16, 5))
        return net

    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setitem(harmonized_source.ARCHITECTURES, "vgg16", (small_vgg, "torchvision vgg16", None))
    monkeypatch.setenv("REPALIGN_HARMONIZED_DIR", str(tmp_path))
    torch.manual_seed(5)
    ref = small_vgg().eval()
    torch.save(ref.state_dict(), tmp_path / "vgg16_harmonized.pt")
    m = ra.create_model("harmonized:vgg16", device="cpu")
    return m, lambda x: ref(_normalize(x, *IMAGENET))


def _robustbench(tmp_path: Path, request: pytest.FixtureRequest):
    import torchvision

    # RobustBench's folder layout and its wrapper's keys (normalize.*, model.*)
    torch.manual_seed(5)
    ref = torchvision.models.resnet18().eval()
    sd = {f"model.{k}": v for k, v in ref.state_dict().items()}
    sd["normalize.mean"] = torch.tensor(IMAGENET[0]).view(1, 3, 1, 1)
    sd["normalize.std"] = torch.tensor(IMAGENET[1]).view(1, 3, 1, 1)
    (tmp_path / "imagenet" / "Linf").mkdir(parents=True)
    torch.save(sd, tmp_path / "imagenet" / "Linf" / "Salman2020Do_R18.pt")
    m = ra.create_model(f"robustbench:Salman2020Do_R18?model_dir={tmp_path}", device="cpu",
                        image_size=64)
    return m, lambda x: ref(_normalize(x, *IMAGENET))


CASES = {
    "torchvision": _torchvision,
    "timm": _timm,
    "open_clip": _open_clip,
    "hf": _hf,
    "file": _file,
    "robustbench": _robustbench,
    "zoo": _zoo,
    "dreamsim": _dreamsim,
    "harmonized": _harmonized,
}


def test_every_source_has_a_case():
    assert sorted(CASES) == SOURCES.list()


@pytest.mark.parametrize("source", SOURCES.list())
def test_source_builds_a_ready_model_equal_to_the_library_forward(source, tmp_path, request):
    model, reference = CASES[source](tmp_path, request)
    assert isinstance(model, Model)
    assert not model.training and all(not p.requires_grad for p in model.parameters())
    assert model.device == torch.device("cpu")
    for key in ("source", "name", "architecture", "pretrained", "weights_sha256"):
        assert key in model.meta, key
    assert model.meta["source"] == source
    assert model.meta["weights_sha256"] == model.weights_sha256()
    x = torch.rand(3, *model.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-5)
    layers = default_layers(model)
    assert layers and all(name in model.layers() for name in layers)
    feats = ra.extract_features(model, x, layers, quiet=True)
    assert all(f.shape[0] == 3 and f.dtype.name == "float32" for f in feats.values())


def test_source_names_are_listed():
    assert "resnet18" in SOURCES.get("torchvision").names()
    assert "resnet18.a1_in1k" in SOURCES.get("timm").names()
    assert SOURCES.get("file").names() == []
    pytest.importorskip("transformers", reason="the hf extra is not installed")
    assert "vit" in SOURCES.get("hf").names() and "dinov2" in SOURCES.get("hf").names()


@pytest.mark.parametrize("model_type", ["dinov2", "clip"])
def test_hf_model_types_equal_transformers(model_type):
    transformers = pytest.importorskip("transformers")
    vision = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 64, "image_size": 32, "patch_size": 8}
    if model_type == "clip":
        config = {"vision_config": vision, "projection_dim": 16,
                  "text_config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                                  "intermediate_size": 64}}
        torch.manual_seed(7)
        m = ra.create_model("hf:clip", pretrained=False, device="cpu", config=config)
        cfg = transformers.CLIPConfig(**config)
        cfg.vision_config.projection_dim = 16
        torch.manual_seed(7)
        ref = transformers.CLIPVisionModelWithProjection(cfg.vision_config).eval()
        mean, std = OPENAI
        key = "image_embeds"
    else:
        vision.pop("intermediate_size")
        torch.manual_seed(7)
        m = ra.create_model("hf:dinov2", pretrained=False, device="cpu", config=vision)
        torch.manual_seed(7)
        ref = transformers.Dinov2Model(transformers.Dinov2Config(**vision)).eval()
        mean, std = IMAGENET
        key = "pooler_output"
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(m(x), getattr(ref(pixel_values=_normalize(x, mean, std)), key))
    assert m.meta["model_type"] == model_type
