"""Run a study whose reference agent is human data given as files, and read its results.

The "human" judgements here are made up on the spot by a simulated observer (digits of one class
look alike, plus noise), so that the example runs offline; replace the two files with real ones in
the same formats:

- ``similarity.npy``: an (N, N) similarity matrix over the study's N stimuli, in their order;
- ``triplets.csv``: odd-one-out trials, whitespace separated, one per line: three 1-based stimulus
  indices, the position (1-3) of the one chosen as the odd one out, a participant id.

Usage: python examples/human_data_demo.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import repalign as ra

out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/human_demo")
data = out.parent / f"{out.name}_human"
data.mkdir(parents=True, exist_ok=True)

# the study's stimuli: the first 4 digits of each class, in the loader's order
stim = ra.load_stimuli("bundled:digits")
keep = np.sort(np.concatenate([np.flatnonzero(stim.labels == c)[:4] for c in range(10)]))
labels = stim.labels[keep]

rng = np.random.default_rng(0)
embedding = np.eye(10)[labels] + 0.4 * rng.normal(size=(len(keep), 10))  # the simulated observer
np.save(data / "similarity.npy", embedding @ embedding.T / 10)
items = np.array([rng.choice(len(keep), 3, replace=False) for _ in range(2000)])
sim = embedding @ embedding.T
others = np.stack([sim[items[:, 1], items[:, 2]], sim[items[:, 0], items[:, 2]], sim[items[:, 0], items[:, 1]]], 1)
odd = np.argmax(others, axis=1) + 1
np.savetxt(data / "triplets.csv", np.column_stack([items + 1, odd, np.zeros(len(items))]), fmt="%d")

config = {
    "name": "human-data-demo",
    "stimuli": {"source": "bundled:digits", "per_class": 4},
    "models": {"specs": ["zoo:*_s0"]},
    "human": {
        "similarity": {"path": str((data / "similarity.npy").resolve())},
        "triplets": {"path": str((data / "triplets.csv").resolve()), "index_base": 1, "layout": "trials"},
    },
    "similarity": {"reference": "human", "metrics": ["rsa_spearman", "triplet_agreement"], "pairwise": []},
    "glocal": {"options": {"lr": 0.01, "max_epochs": 30}},
    "executor": {"threads": 1},
}
run = ra.run_study(config, out=out)
df = run.results()
print(df[df.stage == "similarity"].pivot_table("value", "model", "metric").round(3))
glocal = df[(df.stage == "glocal") & (df.metric == "odd_one_out") & (df.split == "test")]
print(glocal.pivot_table("value", "model", "features").round(3))
print(f"report: {run.report}")
