"""Features: scoped layer taps, batched extraction, reducers, the on-disk cache and file I/O.

Example:
    >>> import torch, repalign as ra
    >>> m = ra.create_model("torchvision:resnet18", pretrained=False, device="cpu", image_size=32)
    >>> ra.features.extract_features(m, torch.rand(3, 3, 32, 32), ["avgpool"])["avgpool"].shape
    (3, 512)
"""

from repalign.features.cache import default_cache_dir, feature_key, load_cached, store_cached
from repalign.features.extract import extract_features, penultimate_features
from repalign.features.io import (
    HDF5FeatureWriter,
    load_feature_ids,
    load_features,
    open_hdf5_features,
    save_features,
)
from repalign.features.reducers import REDUCERS, apply_reducer, reducer_id
from repalign.models.taps import LayerTaps

__all__ = [
    "REDUCERS",
    "HDF5FeatureWriter",
    "LayerTaps",
    "apply_reducer",
    "default_cache_dir",
    "extract_features",
    "feature_key",
    "load_cached",
    "load_feature_ids",
    "load_features",
    "open_hdf5_features",
    "penultimate_features",
    "reducer_id",
    "save_features",
    "store_cached",
]
