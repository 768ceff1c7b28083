"""repalign.data."""

from repalign.data.triplets import TripletSet, load_triplets

__all__ = ["TripletSet", "load_triplets"]
