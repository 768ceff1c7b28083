"""Evaluating metamers: 2AFC, clustering, recognizability, the representation test, transfer.

Every test takes a :class:`~repalign.metamers.result.MetamerResult` and returns a tidy DataFrame
with one row per recipe (generator, layer, regularizer, init, optimizer), [observer, observer
layer,] metric, with value, SD, bootstrap SEM and interval, n and chance.

Example:
    >>> import repalign as ra                                            # doctest: +SKIP
    >>> res = ra.MetamerResult.load("out/metamers")                      # doctest: +SKIP
    >>> ra.evaluation.two_afc(res, distance="ssim")                      # doctest: +SKIP
    >>> ra.evaluation.recognizability(res, observers=["zoo:cnn_l2_s1"])  # doctest: +SKIP
"""

from repalign.evaluation.clustering import balanced_assignment, clustering, hard_triples
from repalign.evaluation.figures import plot_metamer_grid, plot_scores, plot_transfer
from repalign.evaluation.recognizability import recognizability
from repalign.evaluation.representation import match_scores, representation_test
from repalign.evaluation.representation_figures import (
    heatmap_table,
    plot_representation_heatmap,
    plot_representation_projection,
    representation_projection,
)
from repalign.evaluation.transfer import transfer_matrix, transfer_summary
from repalign.evaluation.two_afc import metamer_judgements, two_afc

__all__ = [
    "balanced_assignment",
    "clustering",
    "hard_triples",
    "heatmap_table",
    "match_scores",
    "metamer_judgements",
    "plot_metamer_grid",
    "plot_representation_heatmap",
    "plot_representation_projection",
    "plot_scores",
    "plot_transfer",
    "recognizability",
    "representation_projection",
    "representation_test",
    "transfer_matrix",
    "transfer_summary",
    "two_afc",
]
