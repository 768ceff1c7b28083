"""repalign.data."""

from repalign.data.bundled import DigitsSplit, bundled_names, digits_split
from repalign.data.imagenet_variants import load_imagenet_variant, variant_accuracy
from repalign.data.loaders import load_stimuli
from repalign.data.similarity_matrix import SimilarityMatrix, load_similarity_matrix
from repalign.data.stimuli import Stimuli
from repalign.data.triplets import TripletSet, load_triplets
from repalign.data.two_afc import TwoAFCSet, load_two_afc, two_afc_agreement, two_afc_score

__all__ = [
    "DigitsSplit",
    "SimilarityMatrix",
    "Stimuli",
    "TripletSet",
    "TwoAFCSet",
    "bundled_names",
    "digits_split",
    "load_imagenet_variant",
    "load_similarity_matrix",
    "load_stimuli",
    "load_triplets",
    "load_two_afc",
    "two_afc_agreement",
    "two_afc_score",
    "variant_accuracy",
]
