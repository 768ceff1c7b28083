"""The optimisation loop for one batch of metamer rows.

Per step: image of the active samples -> optional random transforms -> one forward per model
(early exit, under the recipe's autocast dtype and memory format) -> per-sample distance -> loss
term -> backward -> optimizer step -> projection, and the rows of frozen samples restored. Nothing
is read back from the device in the hot loop: the learning rate comes from a Python schedule, the
history and the best iterate are written into preallocated device tensors. Every ``check_every``
steps (and after the last) the active samples are checked on their 8-bit images in float32; the
stopping rule decides which are frozen; frozen samples leave the forward (the batch shrinks) and
their parameters no longer change.

What the loop carries from step to step is a :class:`~repalign.metamers.state.BatchState` (per image: first-success step,
last loss, best loss and image, frozen or not; per batch: the next step and the history) plus
the state of the parametrization, optimizer, schedule, stopping rule and random generator. Every
``checkpoint_every`` steps all of it goes to ``save`` (see :mod:`repalign.metamers.checkpoint`);
``run_batch(..., resume=snapshot)`` continues from that step and ends as the uninterrupted run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from repalign._progress import progress
from repalign.metamers.criterion import standardize_rows
from repalign.metamers.evaluate import (
    ActiveSet,
    Criterion,
    Numerics,
    evaluate,
    feature_criterion,
    forward_model,
    quantize,
)
from repalign.metamers.state import fresh_state, restore, snapshot
from repalign.metamers.terms import LossContext, Term

__all__ = ["BatchOutcome", "LoopConfig", "run_batch"]


@dataclass(frozen=True)
class LoopConfig:
    """Resolved recipe of a run (built once by :func:`repalign.generate_metamers`, never changed)."""

    steps: int
    lr: float
    optimizer: Any  # factory (params, lr, **kw) -> Optimizer
    optimizer_kwargs: dict[str, Any]
    schedule: Any  # factory (steps, **kw) -> Schedule
    schedule_kwargs: dict[str, Any]
    parametrization: Any  # class (x0, **kw) -> Parametrization
    parametrization_kwargs: dict[str, Any]
    objective: Any
    loss: Term
    transforms: Any  # (x, gen) -> x, or None
    stop: Any  # factory (size, **kw) -> rule
    stop_kwargs: dict[str, Any]
    check_every: int
    keep: str
    combine: str
    history_every: int
    quantize: bool
    quiet: bool
    numerics: Numerics = field(default_factory=Numerics)
    loss_scale: float = 1.0  # static loss scale of float16 autocast
    prescreen: bool = True  # screen checks on the step's activations (no transforms, no dist rule)
    checkpoint_every: int | None = None


@dataclass
class BatchOutcome:
    """Per-row results of one batch (CPU)."""

    images: torch.Tensor
    seeds: torch.Tensor
    final_distance: np.ndarray
    success: np.ndarray
    steps_to_success: np.ndarray
    history_loss: np.ndarray  # (S, n)
    steps_run: int
    wall_time: float
    resumed_from: int = 0  # the step a resumed batch started at (0: from the start)


def _target_state(
    act: ActiveSet, targets: torch.Tensor, crit: Criterion, labels: torch.Tensor,
    numerics: Numerics,
) -> tuple[dict[tuple[int, str], torch.Tensor], dict[int, torch.Tensor]]:
    feats: dict[tuple[int, str], torch.Tensor] = {}
    refs: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for u, model in enumerate(act.plan.models):
            want_logits = crit.same_label == "predicted"
            out, logits = forward_model(model, targets, act.layers[u], logits=want_logits,
                                        numerics=numerics.exact())
            for layer in act.layers[u]:
                feats[(u, layer)] = out[layer].float()
            if crit.same_label == "predicted" and logits is not None:
                refs[u] = logits.argmax(dim=1)
            elif crit.same_label == "true":
                refs[u] = labels
    return feats, refs


def run_batch(
    act: ActiveSet,
    targets: torch.Tensor,
    seeds: torch.Tensor,
    labels: torch.Tensor,
    cfg: LoopConfig,
    crit: Criterion,
    *,
    seed: int,
    resume: dict[str, Any] | None = None,
    save: Callable[[dict[str, Any]], None] | None = None,
) -> BatchOutcome:
    """Optimise one batch: ``targets``, ``seeds`` (n, C, H, W) and ``labels`` (n,) on the device.

    ``seed`` seeds the random transforms. ``resume``: a snapshot given to ``save`` by an earlier
    call with the same arguments; the loop continues at its step. ``save`` receives a snapshot
    every ``cfg.checkpoint_every`` steps.
    """
    t0 = time.perf_counter()
    n, dev = targets.shape[0], targets.device
    num = cfg.numerics
    tfeat_all, refs = _target_state(act, targets, crit, labels, num)
    tz_all = {k: standardize_rows(v, crit.statistic) for k, v in tfeat_all.items()}
    param = cfg.parametrization(seeds, **cfg.parametrization_kwargs)
    seeds_img = param.image().detach().clone()
    opt = cfg.optimizer(param.params, lr=cfg.lr, **cfg.optimizer_kwargs)
    sched = cfg.schedule(cfg.steps, **cfg.schedule_kwargs)
    stop = cfg.stop(n, **cfg.stop_kwargs)
    gen = torch.Generator().manual_seed(seed)
    if resume is None:
        st = fresh_state(seeds_img, len(range(0, cfg.steps, cfg.history_every)), cfg.keep == "best")
    else:
        st = restore(resume, param, opt, sched, stop, gen, dev)
    start = st.step
    act.set(np.flatnonzero(~st.frozen))
    frozen_idx = (torch.as_tensor(np.flatnonzero(st.frozen), dtype=torch.long, device=dev)
                  if st.frozen.any() else None)
    frozen_params = ([p.detach().index_select(0, frozen_idx).clone() for p in param.params]
                     if frozen_idx is not None else [])
    tfeat, tz = act.target_features(tfeat_all), act.target_features(tz_all)
    targets_act, seeds_act = act.take(targets), act.take(seeds_img)

    hist_steps = np.arange(0, cfg.steps, cfg.history_every)
    keep_best = cfg.keep == "best"
    step = start
    prescreen = cfg.prescreen and cfg.transforms is None and num.dtype is None
    exact = num.exact()
    bar = progress(range(start, cfg.steps), quiet=cfg.quiet, desc="metamers", total=cfg.steps,
                   initial=start)
    for step in bar:
        if save is not None and cfg.checkpoint_every and step > start \
                and step % cfg.checkpoint_every == 0:
            st.step = step
            save(snapshot(st, param, opt, sched, stop, gen))
        # a check judges this step's image x (after `step` updates), before it is updated
        check = step > 0 and step % cfg.check_every == 0
        for group in opt.param_groups:
            group["lr"] = cfg.lr * sched(step)
        x = param.image(act.index)
        xr = cfg.transforms(x, gen) if cfg.transforms is not None else x
        kept: dict[tuple[int, str], torch.Tensor] | None = {} if (check and prescreen) else None
        dist, _ = evaluate(act, xr, tfeat, cfg.objective, numerics=num, keep=kept)
        ctx = LossContext(x=x, dist=dist, target=targets_act, seed=seeds_act, rows=act.index,
                          size=n, state=st.terms)
        loss = cfg.loss(ctx)
        opt.zero_grad(set_to_none=True)
        if cfg.loss_scale != 1.0:
            torch.autograd.backward(loss.sum() * cfg.loss_scale)
            for p in param.params:
                if p.grad is not None:
                    p.grad.div_(cfg.loss_scale)
        else:
            torch.autograd.backward(loss.sum())
        with torch.no_grad():
            if keep_best and st.best_loss is not None and st.best_img is not None:
                _track_best(act, x.detach(), loss.detach(), st.best_loss, st.best_img)
            if st.h < len(hist_steps) and step == hist_steps[st.h]:
                if act.index is None:
                    st.history[st.h] = loss.detach()
                else:
                    _put(st.loss, act.index, loss.detach())
                    st.history[st.h] = st.loss
                st.h += 1
            if check:
                x_pre = x.detach().clone()
                p_pre = [p.detach().clone() for p in param.params]
        opt.step()
        with torch.no_grad():
            param.project()
            if frozen_idx is not None:
                for p, snap in zip(param.params, frozen_params, strict=True):
                    p.index_copy_(0, frozen_idx, snap)
        if not check:
            continue
        # -- check: the only place values come back to the host ---------------------------------
        with torch.no_grad():
            if kept is not None:  # screen on this step's activations, confirm on 8-bit images
                ok, dq = _screened_check(act, x_pre, kept, tfeat_all, tz_all, refs, cfg, crit,
                                         st.succeeded[act.positions] >= 0), dist.detach()
            else:
                xq = quantize(x_pre) if cfg.quantize else x_pre
                dq, ok_full = evaluate(act, xq, tfeat, cfg.objective, numerics=exact,
                                       criterion=crit, ref_labels=refs, target_z=tz)
                ok = ok_full if ok_full is not None else torch.zeros_like(dq, dtype=torch.bool)
            done = stop(step, dist=dq.float(), loss=loss.detach(), success=ok, rows=act.index)
            _put(st.loss, act.index, loss.detach())  # frozen rows keep their last loss
            if sched.needs_loss:
                sched.observe(step, float(loss.detach().mean()))
            both = torch.stack([ok, done]).cpu().numpy()  # one transfer
            ok_np, done_np = both[0], both[1]
        new = act.positions[ok_np & (st.succeeded[act.positions] < 0)]
        st.succeeded[new] = step
        if not done_np.any():
            continue
        with torch.no_grad():  # frozen samples keep the image that was judged (before the update)
            done_idx = torch.as_tensor(act.positions[done_np], dtype=torch.long, device=dev)
            local = torch.as_tensor(np.flatnonzero(done_np), dtype=torch.long, device=dev)
            for p, pre in zip(param.params, p_pre, strict=True):
                rows = pre if act.index is None else pre.index_select(0, act.index)
                p.index_copy_(0, done_idx, rows.index_select(0, local))
            st.frozen[act.positions[done_np]] = True
            frozen_idx = torch.as_tensor(np.flatnonzero(st.frozen), dtype=torch.long, device=dev)
            frozen_params = [p.detach().index_select(0, frozen_idx).clone() for p in param.params]
        act.set(act.positions[~done_np])
        if len(act) == 0:
            break
        tfeat, tz = act.target_features(tfeat_all), act.target_features(tz_all)
        targets_act, seeds_act = act.take(targets), act.take(seeds_img)
    bar.close()
    steps_run = step + 1
    if st.h < len(hist_steps):
        st.history[st.h:] = st.loss
    with torch.no_grad():
        if keep_best and st.best_loss is not None and st.best_img is not None and len(act) > 0:
            # the image after the last update is a candidate too (robustness's use_best)
            x = param.image(act.index)
            xr = cfg.transforms(x, gen) if cfg.transforms is not None else x
            dist, _ = evaluate(act, xr, tfeat, cfg.objective, numerics=num)
            loss = cfg.loss(LossContext(x=x, dist=dist, target=targets_act, seed=seeds_act,
                                        rows=act.index, size=n, state=st.terms))
            _track_best(act, x, loss, st.best_loss, st.best_img)
        final = param.image().detach()
        if keep_best and st.best_img is not None:
            live = torch.as_tensor(~st.frozen, device=dev)
            final = torch.where(live.view(-1, 1, 1, 1), st.best_img, final)
        final = quantize(final) if cfg.quantize else final.clamp(0, 1)
        act.set(np.arange(n))
        tfeat, tz = act.target_features(tfeat_all), act.target_features(tz_all)
        dist, ok_final = evaluate(act, final, tfeat, cfg.objective, numerics=exact, criterion=crit,
                                  ref_labels=refs, target_z=tz)
        ok = ok_final if ok_final is not None else torch.zeros_like(dist, dtype=torch.bool)
    succeeded = st.succeeded
    reached_at_end = ok.cpu().numpy() & (succeeded < 0) & ~st.frozen
    succeeded[reached_at_end] = steps_run  # first held for the image after the last update
    return BatchOutcome(
        images=final.cpu(),
        seeds=seeds_img.clamp(0, 1).cpu(),
        final_distance=dist.double().cpu().numpy(),
        success=ok.cpu().numpy(),
        steps_to_success=succeeded,
        history_loss=st.history.cpu().numpy(),
        steps_run=steps_run,
        wall_time=time.perf_counter() - t0,
        resumed_from=start,
    )


def _screened_check(
    act: ActiveSet, x: torch.Tensor, kept: dict[tuple[int, str], torch.Tensor],
    tfeat_all: dict[tuple[int, str], torch.Tensor], tz_all: dict[tuple[int, str], torch.Tensor],
    refs: dict[int, torch.Tensor], cfg: LoopConfig, crit: Criterion, reached: np.ndarray,
) -> torch.Tensor:
    """Whether each active row (images ``x``) has reached the criterion. Rows that reached it at
    an earlier check count as reached; of the others, those whose activations in this step's
    forward (of the same images) pass are confirmed on their 8-bit images, with one forward on
    those rows only."""
    cand = feature_criterion(act, kept, act.target_features(tz_all), crit).cpu().numpy()
    cand &= ~reached
    ok = reached.copy()
    if cand.any():
        sub = act.view(cand)
        xs = x.index_select(0, torch.as_tensor(np.flatnonzero(cand), device=x.device))
        xq = quantize(xs) if cfg.quantize else xs
        _, ok_sub = evaluate(sub, xq, sub.target_features(tfeat_all), cfg.objective,
                             numerics=cfg.numerics.exact(),
                             criterion=crit, ref_labels=refs,
                             target_z=sub.target_features(tz_all))
        if ok_sub is not None:
            ok[cand] = ok_sub.cpu().numpy()
    return torch.as_tensor(ok, device=x.device)


def _put(full: torch.Tensor, index: torch.Tensor | None, values: torch.Tensor) -> None:
    if index is None:
        full.copy_(values)
    else:
        full.index_copy_(0, index, values)


def _track_best(
    act: ActiveSet, x: torch.Tensor, loss: torch.Tensor, best_loss: torch.Tensor,
    best_img: torch.Tensor,
) -> None:
    prev = act.take(best_loss)
    better = loss < prev
    img = torch.where(better.view(-1, 1, 1, 1), x, act.take(best_img))
    _put(best_loss, act.index, torch.minimum(loss, prev))
    _put(best_img, act.index, img)
