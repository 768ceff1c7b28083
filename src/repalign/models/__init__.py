"""Models from every source behind one :class:`Model` type.

Example:
    >>> from repalign.models import create_model, default_layers
    >>> m = create_model("torchvision:resnet18", pretrained=False, device="cpu", image_size=64)
    >>> default_layers(m)
    ['layer3', 'avgpool']
"""

from repalign.models.factory import create_model, list_models
from repalign.models.layers import default_layers
from repalign.models.model import Model, Preprocess

__all__ = ["Model", "Preprocess", "create_model", "default_layers", "list_models"]
