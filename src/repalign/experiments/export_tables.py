"""The per-paradigm files of an experiment export, written while the responses stream past.

Each paradigm has a *sink*: ``add(row)`` takes one main-trial response (a row of
:func:`repalign.experiments.export.export_experiment`'s stream), ``close()`` finishes its files
and returns their paths. Sinks keep per-row files open and aggregate only per planned trial, per
pair or per recipe, so their memory does not grow with the number of responses.
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from repalign._io import atomic_path, atomic_write_bytes

__all__ = ["CsvWriter", "ExportContext", "make_sink"]

log = logging.getLogger(__name__)


class CsvWriter:
    """A CSV file written row by row, atomically in place once closed."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self._ctx = atomic_path(path)
        self._fh = open(self._ctx.__enter__(), "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh, lineterminator="\n")
        self._writer.writerow(header)

    def row(self, values: list[Any]) -> None:
        self._writer.writerow(values)

    def close(self) -> Path:
        self._fh.close()
        self._ctx.__exit__(None, None, None)
        return self.path


@dataclass
class ExportContext:
    """What the sinks need: the output folder, the database, the images' descriptions
    (``name -> meta``), the experiment's configuration and class names."""

    out: Path
    conn: sqlite3.Connection
    stimuli: dict[str, dict[str, Any]]
    config: dict[str, Any]
    label_names: list[str]

    def recipe_key(self, name: str) -> tuple[str, ...]:
        """The recipe (generator, layer, regularizer, init, optimizer) of a metamer."""
        from repalign.evaluation._common import RECIPE

        rec = self.stimuli[name]["recipe"]
        return tuple(rec.get(k, "") for k in RECIPE)


def _score_table(rows: list[dict[str, Any]], columns: list[str], path: Path) -> Path:
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=columns).to_csv(tmp, index=False)
    return path


def _recipe_rows(groups: dict[tuple[Any, ...], list[float]], fixed: dict[str, Any],
                 extra_of: Any = None) -> list[dict[str, Any]]:
    from repalign.evaluation._common import RECIPE, summarize

    n = len(RECIPE)
    return [{**dict(zip(RECIPE, key[:n], strict=True)), **fixed,
             **(extra_of(key) if extra_of else {}), **summarize(values)}
            for key, values in groups.items()]


class _Triplets:
    HEAD: ClassVar[list[str]] = ["item_a", "item_b", "item_c", "odd_position", "participant"]

    def __init__(self, ctx: ExportContext) -> None:
        self.ctx = ctx
        self.every = CsvWriter(ctx.out / "triplets.csv", self.HEAD)
        self.kept = CsvWriter(ctx.out / "triplets_included.csv", self.HEAD)

    def add(self, row: dict[str, Any]) -> None:
        shown = row["_onscreen"]
        line = [*(self.ctx.stimuli[n]["index"] for n in shown),
                shown.index(row["_answer"]["odd"]) + 1, row["participant"]]
        self.every.row(line)
        if not row["excluded"]:
            self.kept.row(line)

    def close(self) -> list[Path]:
        return [self.every.close(), self.kept.close()]


class _TwoAFC:
    def __init__(self, ctx: ExportContext) -> None:
        self.ctx = ctx
        self.counts: dict[int, list[int]] = {}  # planned trial -> [answers, chose the seed]

    def add(self, row: dict[str, Any]) -> None:
        c = self.counts.setdefault(int(row["planned_trial"]), [0, 0])
        c[0] += 1
        c[1] += int(row["_answer"]["chosen"] == row["_trial"]["stimuli"][2])

    def close(self) -> list[Path]:
        from repalign.evaluation.two_afc import COLUMNS

        ctx, root = self.ctx, self.ctx.out / "two_afc"
        groups: dict[tuple[Any, ...], dict[str, list[float]]] = {}
        for planned_id, (n, n_seed) in sorted(self.counts.items()):
            (spec,) = ctx.conn.execute("SELECT spec FROM planned_trials WHERE id = ?",
                                       (planned_id,)).fetchone()
            items = json.loads(spec)["items"]  # metamer, target, seed
            stem = f"{ctx.stimuli[items[0]]['index']:05d}"
            for sub, name in zip(("ref", "p0", "p1"), items, strict=True):
                (png,) = ctx.conn.execute("SELECT png FROM stimuli WHERE name = ?",
                                          (name,)).fetchone()
                atomic_write_bytes(root / sub / f"{stem}.png", bytes(png))
            with atomic_path(root / "judge" / f"{stem}.npy") as tmp:
                np.save(tmp, np.array([n_seed / n]))
            target = ctx.stimuli[items[0]]["target"]
            groups.setdefault(ctx.recipe_key(items[0]), {}).setdefault(target, []).append(
                1.0 - n_seed / n)
        # as evaluation.two_afc: repeats of a target averaged first, then over targets
        per_target = {k: [float(np.mean(v)) for v in by_t.values()] for k, by_t in groups.items()}
        rows = _recipe_rows(per_target, {"distance": "human", "metric": "two_afc",
                                         "chance": 0.5},
                            lambda k: {"n_metamers": sum(map(len, groups[k].values()))})
        return [root, _score_table(rows, COLUMNS, ctx.out / "two_afc_scores.csv")]


class _Matching:
    HEAD: ClassVar[list[str]] = ["participant", "trial_index", "planned_trial", "draw", "n_metamers", "n_correct",
            "accuracy", "excluded"]

    def __init__(self, ctx: ExportContext) -> None:
        self.ctx = ctx
        self.table = CsvWriter(ctx.out / "matching.csv", self.HEAD)
        self.draw = ctx.config["matching"]["draw"]
        self.groups: dict[tuple[Any, ...], list[float]] = {}

    def add(self, row: dict[str, Any]) -> None:
        t, matches = row["_trial"], row["_answer"]["matches"]
        n = len(t["stimuli"]) - len(t["choices"])
        n_ok = sum(self.ctx.stimuli[m]["target"] == tgt for m, tgt in matches.items())
        self.table.row([row["participant"], row["trial_index"], row["planned_trial"], self.draw,
                        n, n_ok, n_ok / n, row["excluded"]])
        self.groups.setdefault(self.ctx.recipe_key(t["stimuli"][0]), []).append(n_ok / n)

    def close(self) -> list[Path]:
        from repalign.evaluation.clustering import COLUMNS

        metric = "clustering_hard" if self.draw == "hard" else "clustering"
        rows = _recipe_rows(self.groups, {"distance": "human", "metric": metric,
                                          "chance": 1.0 / 3.0})
        return [self.table.close(),
                _score_table(rows, COLUMNS, self.ctx.out / "matching_scores.csv")]


class _Recognition:
    HEAD: ClassVar[list[str]] = ["participant", "trial_index", "planned_trial", "image", "kind", "label", "answer",
            "correct", "excluded"]

    def __init__(self, ctx: ExportContext) -> None:
        self.ctx = ctx
        self.table = CsvWriter(ctx.out / "recognition.csv", self.HEAD)
        self.groups: dict[tuple[Any, ...], list[float]] = {}
        self.target_recipes: dict[str, set[tuple[str, ...]]] = {}  # recipes using each target
        for name, m in ctx.stimuli.items():
            if m["kind"] == "metamer":
                self.target_recipes.setdefault(m["target"], set()).add(ctx.recipe_key(name))

    def add(self, row: dict[str, Any]) -> None:
        item = self.ctx.stimuli[row["_trial"]["stimuli"][0]]
        ok = int(row["_answer"]["label"] == item["label"])
        self.table.row([row["participant"], row["trial_index"], row["planned_trial"],
                        item["name"], item["kind"], item["label"], row["_answer"]["label"], ok,
                        row["excluded"]])
        if item["kind"] == "target":  # the natural image counts for every recipe it served
            keys = [(*k, "accuracy_targets") for k in self.target_recipes.get(item["name"], ())]
        elif item["kind"] == "metamer":
            keys = [(*self.ctx.recipe_key(item["name"]), "accuracy_metamers")]
        else:
            keys = [(*self.ctx.recipe_key(item["name"]), "accuracy")]
        for key in keys:
            self.groups.setdefault(key, []).append(ok)

    def close(self) -> list[Path]:
        from repalign.evaluation.recognizability import COLUMNS

        chance = 1.0 / max(1, len(self.ctx.label_names))
        rows = _recipe_rows(self.groups, {"observer": "human", "chance": chance},
                            lambda k: {"metric": k[-1]})
        return [self.table.close(),
                _score_table(rows, COLUMNS, self.ctx.out / "recognition_scores.csv")]


class _Ratings:
    HEAD: ClassVar[list[str]] = ["participant", "trial_index", "image_a", "image_b", "rating", "excluded"]

    def __init__(self, ctx: ExportContext) -> None:
        self.ctx = ctx
        self.table = CsvWriter(ctx.out / "ratings.csv", self.HEAD)
        self.pairs: dict[tuple[str, str], list[float]] = {}

    def add(self, row: dict[str, Any]) -> None:
        a, b = sorted(row["_trial"]["stimuli"])
        rating = row["_answer"]["rating"]
        self.table.row([row["participant"], row["trial_index"], a, b, rating, row["excluded"]])
        self.pairs.setdefault((a, b), []).append(rating)

    def close(self) -> list[Path]:
        ctx = self.ctx
        names = [n for n, m in ctx.stimuli.items() if m["kind"] == "stimulus"]
        pos = {n: i for i, n in enumerate(names)}
        lo, hi = float(ctx.config["rating"]["min"]), float(ctx.config["rating"]["max"])
        mat = np.full((len(names), len(names)), np.nan)
        np.fill_diagonal(mat, 1.0)
        for (a, b), vals in self.pairs.items():
            if a != b:
                mat[pos[a], pos[b]] = mat[pos[b], pos[a]] = (float(np.mean(vals)) - lo) / (hi - lo)
        missing = int(np.isnan(mat).sum() // 2)
        if missing:
            log.warning("similarity.csv: %d pair(s) have no rating yet (empty cells); the "
                        "matrix loads once every pair is rated", missing)
        sim = CsvWriter(ctx.out / "similarity.csv", ["", *names])
        for n, r in zip(names, mat, strict=True):
            sim.row([n, *("" if np.isnan(v) else repr(float(v)) for v in r)])
        return [self.table.close(), sim.close()]


_SINKS = {"odd_one_out": _Triplets, "two_afc": _TwoAFC, "matching": _Matching,
          "recognition": _Recognition, "rating": _Ratings}


def make_sink(paradigm: str, ctx: ExportContext) -> Any:
    """The sink writing ``paradigm``'s files (an object with ``add(row)`` and ``close()``)."""
    return _SINKS[paradigm](ctx)
