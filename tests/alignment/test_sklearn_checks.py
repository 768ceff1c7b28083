"""scikit-learn's generic estimator checks, for a transformer fitted as ``fit(X, triplets)``.

The generic checks fit estimators as ``fit(X, y)`` with ``y`` a class label per sample; GLocal's
second argument is a (T, 3) array of odd-one-out triplets instead. The checks therefore run on a
thin subclass that turns class labels into triplets (two samples of a class are more similar to
each other than to a sample of another class) and hands them to ``GLocal.fit`` / ``GLocal.score``
unchanged otherwise: parameters, validation, transform, pickling, cloning and tags are GLocal's.

Checks that apply and must pass: every check scikit-learn runs for a transformer (cloning, repr,
no attributes set in ``__init__``, default-constructible parameters, get/set_params, fit returns
self, fit does not change parameters, idempotent fit, ``check_is_fitted``, ``n_features_in_``
and its check at transform/score time, NaN/Inf rejected, empty data and 1-D data rejected,
complex and sparse data rejected with a clear message, dtypes, read-only memmaps, pickling,
F-contiguous input, non-array input, transformer output consistency, sample order/subset
invariance of ``transform``, pipelines, ``y`` required).

Checks that do not apply (kept here, with the reason, so a change in the outcome is noticed):
- ``check_dtype_object``: scikit-learn expects numeric object arrays to be accepted; repalign
  rejects object arrays at every public boundary by policy (``ShapeError``: "must be numeric").
- ``check_array_api_input``: skipped by scikit-learn itself unless SCIPY_ARRAY_API is set; GLocal
  computes with PyTorch and returns NumPy.
Checks for classifiers, regressors, clusterers, outlier detectors, sample weights, partial_fit
and multi-output are not generated for a transformer without those methods.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils.estimator_checks import check_estimator

from repalign.alignment import GLocal

NOT_APPLICABLE = {"check_dtype_object": "must be numeric"}


def labels_to_triplets(y: np.ndarray) -> np.ndarray:
    """One triplet per sample i: (i, another sample of i's class, a sample of another class)."""
    lab = np.unique(np.asarray(y), return_inverse=True)[1].ravel()
    idx = np.arange(len(lab))
    rows = []
    for i in idx:
        same = np.flatnonzero((lab == lab[i]) & (idx != i))
        diff = np.flatnonzero(lab != lab[i])
        if len(same) and len(diff):
            rows.append([i, same[i % len(same)], diff[i % len(diff)]])
    if not rows:
        raise ValueError("labels_to_triplets needs 2 classes with 2 samples; received 1 class")
    return np.array(rows)


class LabelTripletGLocal(GLocal):
    """GLocal whose fit/score take class labels (converted to triplets) for the generic checks."""

    def fit(self, X, y=None):
        return super().fit(X, None if y is None else labels_to_triplets(y), validation=None)

    def score(self, X, y):
        return super().score(X, labels_to_triplets(y))


def test_labels_to_triplets_layout():
    t = labels_to_triplets(np.array([0, 0, 1, 1]))
    assert t.tolist() == [[0, 1, 2], [1, 0, 3], [2, 3, 0], [3, 2, 1]]


def test_scikit_learn_estimator_checks():
    est = LabelTripletGLocal(max_epochs=2, batch_size=64, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, on_fail=None)
    outcome = {}
    for r in results:
        outcome.setdefault(r["check_name"], []).append((r["status"], str(r["exception"] or "")))
    assert len(outcome) >= 40  # the transformer suite ran
    for name, runs in outcome.items():
        for status, message in runs:
            if name in NOT_APPLICABLE:
                assert status == "failed" and NOT_APPLICABLE[name] in message, (name, message)
            elif name == "check_array_api_input":
                assert status in ("skipped", "passed"), (name, message)
            else:
                assert status == "passed", (name, message)
