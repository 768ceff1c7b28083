"""gLocal: fit time per epoch at THINGS scale, and what the fit achieves on simulated and real
human odd-one-out judgements.

Parts (``--part``, default all):

- ``timing``: 1,854 objects x 768 features, 1,000,000 triplets, batch 256 (gLocal's). Time per
  optimisation step of repalign's step (only the objects in the batch are transformed) against
  the reference formulation measured in the same run (the whole object matrix is transformed
  every step and gathered with a one-hot matmul, as in gLocal's probe), each with and without the
  local term (1,024 auxiliary stimuli per step); the epoch time is steps x time per step. A full
  epoch at batch 4,096 is also timed end to end.
- ``simulated``: a simulated observer whose hidden embedding is the THINGS human embedding
  (choices drawn from the softmax of its dot products, so the noise ceiling is known) answers
  random trials; the "model" is a distorted view of that embedding (random mixing, tanh, rank-8
  nuisance factors, rotation, noise). Held-out accuracy and k-NN overlap (10 neighbours, cosine)
  with the model's own features for the raw model, a global-only fit (alpha = 0) and gLocal.
- ``things``: the same with the 20,000 real human THINGS judgements, random and
  object-disjoint splits.

Usage: ``python benchmarks/glocal.py [--part timing|simulated|things|all] [--quick] [--threads N]``.
Writes ``benchmarks/results/glocal.json``; parts run separately are merged into it (each part
keeps its own date, quick flag and thread count).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, report

from repalign.alignment import (
    GLocal,
    distorted_view,
    object_disjoint_split,
    simulate_observer,
)
from repalign.alignment.losses import glocal_loss, local_contrastive_loss
from repalign.similarity import mutual_knn, odd_one_out_accuracy

THINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "things"
FIT = dict(lam=0.01, tau=0.1, lr=1e-3, batch_size=256, local_batch_size=256, max_epochs=100,
           patience=15, device="cpu", random_state=0)
ALPHAS = (0.0, 0.1, 0.25)


def _reference_step(x, onehot_rows, w, b, xl, alpha, lam, tau):
    """gLocal probe's formulation: transform all objects, gather with a one-hot matmul."""
    emb = x @ w + b
    z = onehot_rows @ emb
    a, p, n = z.view(-1, 3, z.shape[1]).unbind(1)
    s = torch.stack([(a * p).sum(1), (a * n).sum(1), (p * n).sum(1)], 1)
    g = torch.nn.functional.cross_entropy(s, torch.zeros(len(s), dtype=torch.long))
    loc = local_contrastive_loss(xl, xl @ w + b, tau) if xl is not None else 0.0
    eye = torch.eye(w.shape[0])
    pull = ((w - torch.diagonal(w).mean() * eye) ** 2).sum()
    return (1 - alpha) * g + alpha * loc + lam * pull


def _time_steps(step, params, n_steps):
    opt = torch.optim.Adam(params, lr=1e-3)
    for _ in range(2):  # warm-up
        opt.zero_grad()
        step().backward()
        opt.step()
    t0 = time.perf_counter()
    for _ in range(n_steps):
        opt.zero_grad()
        step().backward()
        opt.step()
    return (time.perf_counter() - t0) / n_steps


def _compare_steps(x, trip, aux, alpha, batch, n_steps, rng):
    """Seconds per step of repalign's step and of the reference formulation, same batches."""
    n, d = x.shape
    batches = [trip[rng.integers(0, len(trip), batch)] for _ in range(n_steps + 2)]
    w = (1e-3 * torch.eye(d)).requires_grad_()
    b = torch.zeros(d, requires_grad=True)
    it = iter(batches)
    ours = _time_steps(
        lambda: glocal_loss(x, next(it), w, b, aux, alpha=alpha, lam=0.01, tau=0.1)["loss"],
        [w, b], n_steps)
    onehots = []
    for bt in batches:
        m = torch.zeros(3 * batch, n)
        m[torch.arange(3 * batch), bt.reshape(-1)] = 1.0
        onehots.append(m)
    it2 = iter(onehots)
    w2 = (1e-3 * torch.eye(d)).requires_grad_()
    b2 = torch.zeros(d, requires_grad=True)
    ref = _time_steps(lambda: _reference_step(x, next(it2), w2, b2, aux, alpha, 0.01, 0.1),
                      [w2, b2], n_steps)
    return ours, ref


def timing(quick: bool) -> dict[str, Any]:
    n, d, t, batch = 1854, 768, 1_000_000, 256
    rng = np.random.default_rng(0)
    x = torch.randn(n, d)
    first, off1 = rng.integers(0, n, t), rng.integers(1, n, t)
    off2 = rng.integers(1, n - 1, t)
    off2 += off2 >= off1  # three distinct objects per triplet
    trip = torch.as_tensor(np.stack([first, (first + off1) % n, (first + off2) % n], 1))
    xl = torch.randn(1024, d)
    steps_per_epoch = -(-t // batch)
    n_steps = 10 if quick else 40
    out: dict[str, Any] = {"objects": n, "dims": d, "triplets": t, "batch_size": batch,
                           "local_batch": 1024, "steps_per_epoch": steps_per_epoch,
                           "measured_steps": n_steps, "threads": torch.get_num_threads()}
    for label, alpha, aux in (("global_only", 0.0, None), ("with_local", 0.25, xl)):
        ours, ref = _compare_steps(x, trip, aux, alpha, batch, n_steps, rng)
        out[label] = {"step_s": ours, "reference_step_s": ref, "speedup": ref / ours,
                      "epoch_s": ours * steps_per_epoch,
                      "reference_epoch_s": ref * steps_per_epoch}
    if not quick:  # one real epoch end to end through the estimator, batch 4096, global only
        est = GLocal(alpha=0.0, batch_size=4096, max_epochs=1, device="cpu", random_state=0)
        t0 = time.perf_counter()
        est.fit(x.numpy(), trip.numpy(), validation=None)
        out["full_epoch_batch4096_global_s"] = time.perf_counter() - t0
    return out


def _evaluate(x, fits, test, knn_objects):
    """Held-out odd-one-out accuracy (dot products) and 10-NN overlap with the raw features."""
    rows = {"raw": {"accuracy": odd_one_out_accuracy(x, test, "dot"), "knn_overlap": 1.0}}
    for name, est in fits.items():
        z = est.transform(x)
        rows[name] = {
            "accuracy": est.score(x, test),
            "knn_overlap": mutual_knn(x[knn_objects], z[knn_objects], 10, metric="cosine"),
            "epochs": len(est.history_), "best_epoch": est.best_epoch_,
            "fit_s": round(est.fit_seconds_, 1),
        }
    return rows


def _fit_all(x, train, x_local, quick):
    cfg = dict(FIT, max_epochs=25 if quick else FIT["max_epochs"])
    return {f"alpha={a}": GLocal(alpha=a, **cfg).fit(x, train, x_local=x_local) for a in ALPHAS}


def simulated(quick: bool, embedding: np.ndarray) -> dict[str, Any]:
    n_trip = 12_000 if quick else 24_000
    sim = simulate_observer(embedding, n_trip, temperature=1.0, seed=0)
    x = distorted_view(embedding, dims=192, nuisance_rank=8, nuisance_scale=1.0, noise=0.3, seed=0)
    n_test = n_trip // 6
    train, test = sim.triplets[:-n_test], sim.triplets[-n_test:]
    test_ceiling = float(sim.probabilities[-n_test:].max(1).mean())
    fits = _fit_all(x, train, None, quick)
    res = _evaluate(x, fits, test, np.arange(len(x)))
    res["hidden_embedding"] = {"accuracy": odd_one_out_accuracy(embedding, test, "dot")}
    return {"triplets_train": len(train), "triplets_test": n_test, "ceiling": test_ceiling,
            "results": res}


def things(quick: bool, embedding: np.ndarray, triplets: np.ndarray) -> dict[str, Any]:
    n = len(embedding)
    x = distorted_view(embedding, dims=192, nuisance_rank=8, nuisance_scale=1.0, noise=0.3, seed=0)
    perm = np.random.default_rng(0).permutation(len(triplets))
    cut = int(0.8 * len(triplets))
    out: dict[str, Any] = {"human_noise_ceiling_reference": 0.673}
    tr, te = triplets[perm[:cut]], triplets[perm[cut:]]
    res = _evaluate(x, _fit_all(x, tr, None, quick), te, np.arange(n))
    res["human_embedding"] = {"accuracy": odd_one_out_accuracy(embedding, te, "dot")}
    out["random_split"] = {"triplets_train": len(tr), "triplets_test": len(te), "results": res}
    if not quick:
        tr_i, te_i, test_objects = object_disjoint_split(triplets, n, test_size=0.4, seed=0)
        train_objects = np.setdiff1d(np.arange(n), test_objects)
        fits = _fit_all(x, triplets[tr_i], x[train_objects], quick)
        res = _evaluate(x, fits, triplets[te_i], test_objects)
        res["human_embedding"] = {"accuracy": odd_one_out_accuracy(embedding, triplets[te_i], "dot")}
        out["object_disjoint_split"] = {
            "test_objects": len(test_objects), "triplets_train": len(tr_i),
            "triplets_test": len(te_i), "results": res,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=("timing", "simulated", "things", "all"))
    parser.add_argument("--quick", action="store_true", help="fewer steps, epochs and triplets")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice); on a shared, busy "
                             "machine 1 avoids oversubscription")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results: dict[str, Any] = {"fit_settings": FIT, "alphas": ALPHAS}
    if args.part in ("timing", "all"):
        results["timing"] = timing(args.quick)
    if args.part in ("simulated", "things", "all"):
        if not THINGS.is_dir():
            print(f"THINGS data not found at {THINGS}: simulated and real parts skipped")
        else:
            from repalign.data.triplets import load_triplets

            emb = np.load(THINGS / "final_embedding.npy").astype(np.float64)
            if args.part in ("simulated", "all"):
                results["simulated"] = simulated(args.quick, emb)
            if args.part in ("things", "all"):
                trip = load_triplets(THINGS / "test_triplets.csv", index_base=1,
                                     n_objects=len(emb)).triplets
                results["things"] = things(args.quick, emb, trip)
    # parts run separately accumulate in one results file; each part carries its own date
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    merged: dict[str, Any] = {}
    previous = RESULTS / "glocal.json"
    if previous.is_file():
        old = json.loads(previous.read_text())
        merged = {k: old[k] for k in ("timing", "simulated", "things") if k in old}
    for part in ("timing", "simulated", "things"):
        if part in results:
            merged[part] = {"date": stamp, "quick": args.quick,
                            "threads": torch.get_num_threads(), **results.pop(part)}
    report("glocal", {**results, **merged})


if __name__ == "__main__":
    main()
