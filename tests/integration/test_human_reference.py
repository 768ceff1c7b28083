"""A study whose reference agent is human data given as files: a similarity matrix and odd-one-out
triplets in the THINGS raw trial layout (1-based), over the study's stimuli."""

from __future__ import annotations

import numpy as np
import pytest

import repalign as ra
from repalign.errors import ConfigError
from repalign.study.runner import run_study
from repalign.study.store import load_results


@pytest.fixture(scope="module")
def human_files(tmp_path_factory):
    """Judgements of a simulated observer over 20 digits (2 per class), written as files."""
    folder = tmp_path_factory.mktemp("human")
    rng = np.random.default_rng(0)
    stim = ra.load_stimuli("bundled:digits")
    keep = np.sort(np.concatenate([np.flatnonzero(stim.labels == c)[:2] for c in range(10)]))
    emb = np.eye(10)[stim.labels[keep]] + 0.3 * rng.normal(size=(20, 10))
    np.save(folder / "similarity.npy", emb @ emb.T / 10)
    items = np.array([rng.choice(20, 3, replace=False) for _ in range(400)])
    sims = emb @ emb.T
    pair_sim = np.stack([sims[items[:, 1], items[:, 2]], sims[items[:, 0], items[:, 2]],
                         sims[items[:, 0], items[:, 1]]], axis=1)  # similarity of the other two
    odd = np.argmax(pair_sim, axis=1) + 1  # the odd one out: its two partners are most alike
    np.savetxt(folder / "triplets.csv", np.column_stack([items + 1, odd, np.zeros(400)]), fmt="%d")
    return folder


def _config(folder):
    return {
        "name": "human reference",
        "device": "cpu",
        "stimuli": {"source": "bundled:digits", "per_class": 2},
        "models": {"specs": ["zoo:cnn_standard_s0", "zoo:cnn_l2_s0"]},
        "human": {
            "similarity": {"path": str(folder / "similarity.npy")},
            "triplets": {"path": "triplets.csv", "index_base": 1, "layout": "trials"},
        },
        "similarity": {"reference": "human", "metrics": ["rsa_spearman", "cka_linear"], "pairwise": []},
        "glocal": {"options": {"max_epochs": 3}},
        "executor": {"threads": 1},
    }


def test_human_files_as_reference(human_files, tmp_path):
    from repalign.similarity import odd_one_out_accuracy

    cfg_path = human_files / "study.yaml"
    import yaml

    cfg = _config(human_files)
    cfg_path.write_text(yaml.safe_dump(cfg))  # triplets.csv is found next to the config file
    run = run_study(cfg_path, out=tmp_path / "run", quiet=True)
    assert run.report is not None and "Alignment with human" in run.report.read_text()
    df = load_results(tmp_path / "run")
    sim = df[(df["stage"] == "similarity")]
    assert set(sim["other"]) == {"human"}
    assert set(sim["metric"]) == {"rsa_spearman", "cka_linear", "odd_one_out"}
    glocal = df[df["stage"] == "glocal"]
    assert set(glocal["triplets"]) == {"human"} and "ceiling" not in set(glocal["metric"])
    # the stored odd-one-out accuracy equals a direct computation on the same triplets
    stim = ra.load_stimuli("bundled:digits")
    keep = np.sort(np.concatenate([np.flatnonzero(stim.labels == c)[:2] for c in range(10)]))
    x = ra.extract_features(ra.create_model("zoo:cnn_l2_s0", device="cpu"), stim.subset(keep), ["flatten"],
                            quiet=True)["flatten"]
    triplets = ra.data.load_triplets(human_files / "triplets.csv", index_base=1, n_objects=20, layout="trials")
    row = sim[(sim["model"] == "zoo:cnn_l2_s0") & (sim["metric"] == "odd_one_out")]
    assert row["value"].iloc[0] == pytest.approx(odd_one_out_accuracy(x, triplets))
    # the stored rsa_spearman equals scipy on the model's cosine RDM and the human matrix (ranks of
    # dissimilarities: a higher human similarity is a smaller dissimilarity)
    from scipy.stats import spearmanr

    xn = x.astype(np.float64) / np.linalg.norm(x, axis=1, keepdims=True)
    iu = np.triu_indices(20, 1)
    human = np.load(human_files / "similarity.npy")
    expect = spearmanr((1 - xn @ xn.T)[iu], -human[iu]).statistic
    row = sim[(sim["model"] == "zoo:cnn_l2_s0") & (sim["metric"] == "rsa_spearman")]
    assert len(row) == 1 and row["value"].iloc[0] == pytest.approx(expect, abs=1e-6)


def test_glocal_shots_beyond_the_smallest_class_are_refused_when_planning(human_files, tmp_path):
    cfg = _config(human_files)  # 2 digits per class: no 5-shot learning possible
    cfg["glocal"]["shots"] = [1, 5]
    import yaml

    cfg_path = human_files / "study_shots.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"glocal\.shots: \[5\]-shot .* 2 in their smallest class"):
        run_study(cfg_path, out=tmp_path / "run", quiet=True)


def test_human_files_that_do_not_fit_the_stimuli(human_files, tmp_path):
    cfg = _config(human_files)
    cfg["human"]["triplets"]["path"] = str(human_files / "triplets.csv")
    cfg["stimuli"]["per_class"] = 3  # 30 stimuli, but the matrix describes 20
    with pytest.raises(ConfigError, match=r"human\.similarity: .*describes 20 stimuli but 30"):
        run_study(cfg, out=tmp_path / "a", report=False, quiet=True)
    cfg = _config(human_files)
    cfg["human"]["triplets"]["index_base"] = 0  # the file is 1-based: index 20 is out of range
    cfg["human"]["triplets"]["path"] = str(human_files / "triplets.csv")
    with pytest.raises(ConfigError, match=r"human\.triplets: .*indices must be < n_objects=20"):
        run_study(cfg, out=tmp_path / "b", report=False, quiet=True)


def test_human_2afc_scores_the_evaluation_distances(tmp_path):
    """With human 2AFC judgements (BAPPS layout), each evaluation distance gets its agreement with
    the humans, equal to the soft BAPPS score computed directly."""
    from PIL import Image

    from repalign.data import load_two_afc
    from repalign.perceptual import get_distance

    rng = np.random.default_rng(1)
    folder = tmp_path / "bapps"
    for sub in ("ref", "p0", "p1", "judge"):
        (folder / sub).mkdir(parents=True)
    for i in range(8):
        ref = rng.random((16, 16, 3))
        p0 = np.clip(ref + rng.normal(0, 0.05 * (1 + i % 3), ref.shape), 0, 1)
        p1 = np.clip(ref + rng.normal(0, 0.1, ref.shape), 0, 1)
        for sub, img in (("ref", ref), ("p0", p0), ("p1", p1)):
            Image.fromarray((img * 255).round().astype(np.uint8)).save(folder / sub / f"{i:03d}.png")
        np.save(folder / "judge" / f"{i:03d}.npy", np.array([rng.random()]))
    cfg = {
        "device": "cpu",
        "stimuli": {"source": "bundled:digits", "per_class": 2},
        "models": {"specs": ["zoo:cnn_standard_s0"]},
        "human": {"two_afc": {"path": str(folder)}},
        "metamers": {"generators": ["zoo:cnn_standard_s0"], "targets": 3, "classes": [0, 1, 2],
                     "layers": ["penultimate"], "regularizers": ["none"], "inits": ["noise"],
                     "optimizers": ["adam"], "steps": 2, "repeats": 1},
        "evaluation": {"tests": ["two_afc"], "distances": ["ssim", "pixel_l2"], "n_boot": 0},
        "executor": {"threads": 1},
    }
    run_study(cfg, out=tmp_path / "run", report=False, quiet=True)
    df = load_results(tmp_path / "run")
    agree = df[df["metric"] == "human_agreement"].set_index("distance")["value"]
    assert sorted(agree.index) == ["pixel_l2", "ssim"]
    data = load_two_afc(folder)
    for name in ("ssim", "pixel_l2"):
        d = get_distance(name)
        expect = data.score(d(data.reference, data.p0).detach().numpy(), d(data.reference, data.p1).detach().numpy())
        assert agree[name] == pytest.approx(expect)
