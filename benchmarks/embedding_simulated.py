"""The numbers behind tests/embedding/test_simulated_things.py: fits to 200,000 triplets
simulated from the THINGS embedding (200 objects) and answered by the simulated observer, and
what they recover: held-out expected accuracy as a fraction of the noise ceiling, Spearman
correlation of the RDM with the true one, VICE's dimension reproducibility across two seeds.

Same settings as the test: VICE 25 epochs (lr 0.02, batch 512, 100 initial dimensions), SPoSE 4
epochs (lr 0.005), nothing held out of the 200,000 (50,000 fresh trials to test on).

Usage: ``python benchmarks/embedding_simulated.py``. Writes
``benchmarks/results/embedding_simulated.json``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report

from repalign.alignment.simulate import simulate_observer
from repalign.embedding import fit_embedding, predicted_pair
from repalign.embedding.compare import matched_dimension_correlation, rdm_spearman

THINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "things" / "final_embedding.npy"


def main() -> None:
    torch.set_num_threads(1)
    full = np.load(THINGS)
    truth = full[np.random.default_rng(0).choice(len(full), 200, replace=False)]
    train = simulate_observer(truth, 200_000, seed=1)
    test = simulate_observer(truth, 50_000, seed=2)
    kw = dict(dims=100, batch_size=512, val_fraction=0.0, quiet=True)
    fits = {f"vice_seed{s}": fit_embedding(train.triplets, 200, method="vice", epochs=25, lr=0.02,
                                           seed=s, **kw) for s in (0, 1)}
    fits["spose_seed0"] = fit_embedding(train.triplets, 200, method="spose", epochs=4, lr=0.005,
                                        seed=0, **kw)
    out: dict = {"ceiling": test.ceiling, "fits": {}, "loadavg_before": os.getloadavg()}
    for name, res in fits.items():
        pick = predicted_pair(torch.as_tensor(res.weights), torch.as_tensor(test.items)).numpy()
        out["fits"][name] = {"ceiling_fraction": test.expected_accuracy(pick) / test.ceiling,
                             "rdm_spearman": rdm_spearman(res.weights, truth), "dims": res.n_dims,
                             "seconds": sum(r["seconds"] for r in res.history)}
    a, b = fits["vice_seed0"].weights, fits["vice_seed1"].weights
    for tag, (x, y) in {"0_vs_1": (a, b), "1_vs_0": (b, a)}.items():
        r = np.mean([matched_dimension_correlation(x, y, seed=s) for s in range(10)], axis=0)
        out[f"vice_reproducibility_{tag}"] = {"median": float(np.median(r)), "mean": float(r.mean()),
                                              "fraction_above_0.8": float((r > 0.8).mean())}
    out["loadavg_after"] = os.getloadavg()
    report("embedding_simulated", out)


if __name__ == "__main__":
    main()
