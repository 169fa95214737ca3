"""vidstyle: remaster old film.

    from vidstyle import RemasterConfig, remaster
    remaster("reel.mkv", "reel_hd.mkv", RemasterConfig(scale=2))
"""

from .config import EncodeConfig, GrainConfig, RangeConfig, RemasterConfig, RepairConfig, TemporalConfig
from .engine import RemasterResult, remaster
from .errors import (
    ConfigError,
    DecodeError,
    EncodeError,
    InputError,
    ModelError,
    OutputError,
    RangeError,
    SourceDamageError,
    StyleError,
    VideoOpenError,
    VidstyleError,
)
from .io import FrameBatch, VideoInfo, VideoReader, VideoWriter, probe
from .models import available_models, load_model
from .models.styles import bundled_styles, load_style
from .preview import PreviewResult, preview
from .samples import sample_clip
from .version import __version__

__all__ = [
    "ConfigError",
    "DecodeError",
    "EncodeConfig",
    "EncodeError",
    "FrameBatch",
    "GrainConfig",
    "InputError",
    "ModelError",
    "OutputError",
    "PreviewResult",
    "RangeConfig",
    "RangeError",
    "RemasterConfig",
    "RemasterResult",
    "RepairConfig",
    "SourceDamageError",
    "StyleError",
    "TemporalConfig",
    "VideoInfo",
    "VideoOpenError",
    "VideoReader",
    "VideoWriter",
    "VidstyleError",
    "__version__",
    "available_models",
    "bundled_styles",
    "load_model",
    "load_style",
    "preview",
    "probe",
    "remaster",
    "sample_clip",
]
