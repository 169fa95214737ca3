"""Models: the descriptor every model is called through, the baselines, the registry, the styles."""

from .baseline import Bicubic, Lanczos
from .descriptor import ModelDescriptor, TemporalHints
from .registry import ModelEntry, available_models, load_model, resolve_device

__all__ = [
    "Bicubic",
    "Lanczos",
    "ModelDescriptor",
    "ModelEntry",
    "TemporalHints",
    "available_models",
    "load_model",
    "resolve_device",
]
