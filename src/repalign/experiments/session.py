"""One participant's trials, what their responses mean, and whether catch trials were passed.

A session is a list of trials, each a JSON-able dict stored with the assignment:
``kind`` (``main``, ``catch_repeat``, ``catch_known``), ``planned_id`` (the planned trial, or
None), ``repeat_of`` (for a repeat, the trial index it repeats), ``stimuli`` (image names in the
planned trial's canonical order; matching: the metamers, then the three targets),
``positions`` (the on-screen order: ``positions[slot]`` is the index into ``stimuli`` shown in
that slot), ``choices`` (matching: the target names), ``choice_order`` (recognition: the class
indices in the order of the buttons) and ``answer`` (known answers; never sent to the page).

A response is interpreted against the trial into a normalised answer: ``{"odd": name}``,
``{"chosen": name}``, ``{"matches": {metamer: target}}``, ``{"label": k}`` or
``{"rating": x}``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from repalign.errors import ConfigError
from repalign.experiments.config import ExperimentConfig
from repalign.experiments.pool import Pool

__all__ = ["ResponseError", "build_session", "catch_passed", "exclusion_flags", "interpret"]

Trial = dict[str, Any]


class ResponseError(ValueError):
    """A response that does not fit its trial; the message says what was expected."""


def _shown(trial: Trial, rng: np.random.Generator, cfg: ExperimentConfig, n_labels: int) -> Trial:
    """A planned trial with random on-screen positions (``positions[slot]`` = index into
    ``stimuli`` shown in that slot)."""
    items = list(trial["items"])
    out: Trial = {"stimuli": items}
    if cfg.paradigm == "two_afc":  # the reference on top, the candidates in random order
        out["positions"] = [0, *(1 + int(p) for p in rng.permutation(len(items) - 1))]
    elif cfg.paradigm == "matching":  # the metamer row, then the target row, each shuffled
        k = len(trial["choices"])
        out["stimuli"] = items + list(trial["choices"])
        out["choices"] = list(trial["choices"])
        out["positions"] = ([int(p) for p in rng.permutation(len(items))]
                            + [len(items) + int(p) for p in rng.permutation(k)])
    else:
        out["positions"] = [int(p) for p in rng.permutation(len(items))]
    if cfg.paradigm == "recognition":
        out["choice_order"] = [int(k) for k in rng.permutation(n_labels)]
    if "answer" in trial:
        out["answer"] = trial["answer"]
    return out


def _known(cfg: ExperimentConfig, pool: Pool, rng: np.random.Generator) -> Trial:
    """A trial with an obvious answer, in the paradigm's own form."""
    p = cfg.paradigm
    if p in ("odd_one_out", "rating"):
        stim = pool.by_kind("stimulus")
        a = stim[int(rng.integers(len(stim)))]
        if p == "rating":  # an image with itself: rated near the top of the scale
            return {"items": [a.name, a.name], "answer": "same"}
        others = [s for s in stim if s.label != a.label] or [s for s in stim if s.name != a.name]
        b = others[int(rng.integers(len(others)))]
        return {"items": [a.name, a.name, b.name], "answer": b.name}
    if p == "recognition":
        shown = pool.by_kind("target") or pool.by_kind("stimulus")
        it = shown[int(rng.integers(len(shown)))]
        return {"items": [it.name], "answer": it.label}
    mets = pool.by_kind("metamer")
    if p == "two_afc":  # the reference itself against another image's seed
        m = mets[int(rng.integers(len(mets)))]
        others = [s for s in pool.by_kind("seed") if s.target != m.target] or pool.by_kind("seed")
        s = others[int(rng.integers(len(others)))]
        return {"items": [m.name, m.name, s.name], "answer": m.name}
    raise ConfigError("matching has no known-answer catch trials; set catch.known = 0")


def build_session(cfg: ExperimentConfig, pool: Pool, planned: list[tuple[int, Trial]],
                  seed: int) -> list[Trial]:
    """A participant's trials: the planned ones in random order with random positions, then
    catch trials (repeats and known answers) inserted at random places.

    Args:
        cfg: the experiment.
        pool: its images.
        planned: ``(planned_id, planned trial)`` chosen for this participant.
        seed: the participant's own seed.

    Returns:
        Trials in the order shown, ``trial_index`` 0, 1, ...
    """
    rng = np.random.default_rng([cfg.seed, seed, 7])
    n_labels = len(pool.label_names)
    main = [{"kind": "main", "planned_id": pid, "repeat_of": None, **_shown(t, rng, cfg, n_labels)}
            for pid, t in (planned[int(i)] for i in rng.permutation(len(planned)))]
    trials: list[Trial] = list(main)
    for _ in range(cfg.known_catches()):
        known = {"kind": "catch_known", "planned_id": None, "repeat_of": None,
                 **_shown(_known(cfg, pool, rng), rng, cfg, n_labels)}
        trials.insert(int(rng.integers(1, len(trials) + 1)), known)
    for k in (rng.choice(len(main), size=min(cfg.catch.repeats, len(main)), replace=False)
              if main else []):
        orig = main[int(k)]
        src = {"items": orig["stimuli"]}
        if cfg.paradigm == "matching":
            k = len(orig["choices"])
            src = {"items": orig["stimuli"][:-k], "choices": orig["choices"]}
        rep = {"kind": "catch_repeat", "planned_id": orig["planned_id"], "repeat_of": orig,
               **_shown(src, rng, cfg, n_labels)}
        after = next(i for i, t in enumerate(trials) if t is orig) + 1
        trials.insert(int(rng.integers(after, len(trials) + 1)), rep)
    for i, t in enumerate(trials):
        t["trial_index"] = i
    for t in trials:  # the repeated trial, by its index now that indices are final
        if t["repeat_of"] is not None:
            t["repeat_of"] = t["repeat_of"]["trial_index"]
    return trials


def _int_in(body: dict[str, Any], key: str, lo: int, hi: int) -> int:
    v = body.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v < hi:
        raise ResponseError(f"response.{key} must be an integer in [{lo}, {hi - 1}], received {v!r}")
    return v


def interpret(cfg: ExperimentConfig, trial: Trial, body: dict[str, Any],
              onscreen: list[str]) -> dict[str, Any]:
    """The normalised answer of ``body`` (the paradigm's response) to ``trial``.

    Indices in a response refer to the trial's own order (``stimuli``, or ``choices`` for
    recognition), never to a screen slot; ``onscreen`` records what the page showed.

    Args:
        cfg: the experiment.
        trial: the assigned trial.
        body: ``{"choice": k}`` (odd-one-out: index into stimuli; 2AFC: 1 or 2; recognition:
            index into choices), ``{"matches": [j, ...]}`` (for each metamer in stimuli order,
            the stimuli index of its target) or ``{"rating": x}``.
        onscreen: the image names in the order the page showed them.

    Raises:
        ResponseError: a key is missing or out of range, or ``onscreen`` lists other images.
    """
    stimuli = trial["stimuli"]
    if Counter(onscreen) != Counter(stimuli):
        raise ResponseError("onscreen_order must list the trial's images, each as often as it "
                            f"is shown ({len(stimuli)} names), received {onscreen!r}")
    p = cfg.paradigm
    key = {"matching": "matches", "rating": "rating"}.get(p, "choice")
    extra = set(body) - {key}
    if extra:
        raise ResponseError(f"response has unknown key(s) {sorted(extra)}; a {p} response is "
                            f'{{"{key}": ...}}')
    if p == "odd_one_out":
        return {"odd": stimuli[_int_in(body, "choice", 0, len(stimuli))]}
    if p == "two_afc":
        return {"chosen": stimuli[_int_in(body, "choice", 1, len(stimuli))]}
    if p == "recognition":
        return {"label": _int_in(body, "choice", 0, len(trial["choice_order"]))}
    if p == "rating":
        v = body.get("rating")
        lo, hi = cfg.rating.min, cfg.rating.max
        if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                or not lo <= v <= hi):
            raise ResponseError(f"response.rating must be a number in [{lo}, {hi}], received {v!r}")
        return {"rating": float(v)}
    matches = body.get("matches")
    k = len(trial["choices"])
    n = len(stimuli) - k
    if (not isinstance(matches, list) or len(matches) != n
            or any(isinstance(m, bool) or not isinstance(m, int) or not n <= m < n + k
                   for m in matches)):
        raise ResponseError(f"response.matches must list, for each of the {n} metamers, the "
                            f"index of its target in stimuli (in [{n}, {n + k - 1}]); received "
                            f"{matches!r}")
    per = cfg.matching.per_target
    if sorted(Counter(matches).values()) != [per] * k:
        raise ResponseError(f"response.matches must give each target exactly {per} metamer(s), "
                            f"received {matches!r}")
    return {"matches": {stimuli[i]: stimuli[m] for i, m in enumerate(matches)}}


def catch_passed(cfg: ExperimentConfig, trial: Trial, answer: dict[str, Any],
                 original: dict[str, Any] | None = None) -> bool:
    """Whether a catch trial's answer is right (known answer) or matches the original (repeat)."""
    if trial["kind"] == "catch_repeat":
        if original is None:
            return False
        if cfg.paradigm == "rating":
            span = cfg.rating.max - cfg.rating.min
            return bool(abs(answer["rating"] - original["rating"]) <= 0.25 * span)
        return answer == original
    truth = trial["answer"]
    if cfg.paradigm == "rating":
        return bool(answer["rating"] >= cfg.rating.min + 0.75 * (cfg.rating.max - cfg.rating.min))
    if cfg.paradigm == "odd_one_out":
        return bool(answer["odd"] == truth)
    if cfg.paradigm == "two_afc":
        return bool(answer["chosen"] == truth)
    if cfg.paradigm == "recognition":
        return bool(answer["label"] == truth)
    return bool(answer["matches"] == truth)


def exclusion_flags(cfg: ExperimentConfig, rts: list[float], known: list[bool],
                    repeats: list[bool]) -> dict[str, str]:
    """The exclusion rules a participant breaks: ``{rule: detail}``.

    Args:
        cfg: the experiment (its ``exclusion`` rules).
        rts: reaction times (ms) of all responses.
        known: pass/fail of each known-answer catch trial.
        repeats: agreement of each repeat with its original.
    """
    ex = cfg.exclusion
    out = {}
    fast = sum(rt < ex.min_rt_ms for rt in rts)
    if rts and fast / len(rts) > ex.max_fast_fraction:
        out["too_fast"] = (f"{fast} of {len(rts)} responses faster than {ex.min_rt_ms:g} ms "
                           f"(allowed: {ex.max_fast_fraction:.0%})")
    failed = known.count(False)
    if failed > ex.max_failed_known:
        out["failed_catch"] = (f"{failed} of {len(known)} known-answer catch trials failed "
                               f"(allowed: {ex.max_failed_known})")
    if repeats and sum(repeats) / len(repeats) < ex.min_repeat_agreement:
        out["inconsistent"] = (f"{sum(repeats)} of {len(repeats)} repeats agree with the first "
                               f"answer (needed: {ex.min_repeat_agreement:.0%})")
    return out
