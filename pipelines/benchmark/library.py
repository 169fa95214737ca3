"""Every vidstyle name the benchmark uses, imported in this one place.

The section modules import the library from here, not from ``vidstyle`` directly, so that a
name moved inside vidstyle is fixed in one file. Only public names.
"""

from __future__ import annotations

from vidstyle import (
    EncodeConfig,
    RangeConfig,
    RemasterConfig,
    RemasterResult,
    VideoInfo,
    VideoReader,
    VideoWriter,
    __version__,
    probe,
    remaster,
)
from vidstyle.batch.backends import import_ray
from vidstyle.batch.discover import discover
from vidstyle.batch.runner import BatchConfig, remaster_chunked, run_batch, segments_for
from vidstyle.batch.segments import Segment
from vidstyle.config import RepairConfig, TemporalConfig
from vidstyle.damage.degrade import WORN_PRINT, DegradeSettings, FilmDegrader
from vidstyle.errors import ConfigError, ModelError, StyleError
from vidstyle.io.remux import keyframe_indices
from vidstyle.models import load_model
from vidstyle.models.descriptor import ModelDescriptor, run_frames
from vidstyle.models.precision import DTYPES, cpu_has_bf16, resolve_precision
from vidstyle.models.registry import available_models, shipped_weights
from vidstyle.models.styles import bundled_styles, load_style
from vidstyle.models.tiles import plan_tiling
from vidstyle.models.weights import load_weights
from vidstyle.quality import frame_scores, psnr
from vidstyle.style.exemplars import EXEMPLARS, draw_exemplar
from vidstyle.style.features import style_distance
from vidstyle.style.measures import fine_bands, middle_chroma, picture_measures
from vidstyle.temporal.metrics import VideoMetrics, flicker, video_metrics
from vidstyle.temporal.reuse import supports_reuse
from vidstyle.train.data import HELD_OUT_CLIP_FRAMES, clip_frames, clip_path, held_out_clips, restoration_target
from vidstyle.train.dead_leaves import dead_leaves
from vidstyle.train.evaluate import EVAL_SEED, EvalResult, HeldOutPair, evaluate, held_out_pairs
from vidstyle.train.style import StyleRecipe, read_style_image

__all__ = [
    "EVAL_SEED", "EXEMPLARS", "HELD_OUT_CLIP_FRAMES", "WORN_PRINT", "BatchConfig", "ConfigError",
    "DegradeSettings", "EncodeConfig", "EvalResult", "FilmDegrader", "HeldOutPair", "ModelDescriptor",
    "ModelError", "RangeConfig", "RemasterConfig", "RemasterResult", "RepairConfig", "Segment", "StyleError",
    "StyleRecipe",
    "TemporalConfig", "VideoInfo", "VideoMetrics", "VideoReader", "VideoWriter", "__version__",
    "available_models", "bundled_styles", "clip_frames", "clip_path", "dead_leaves", "discover", "draw_exemplar",
    "evaluate", "fine_bands", "flicker", "frame_scores", "held_out_clips", "held_out_pairs", "import_ray",
    "keyframe_indices",
    "load_model", "load_style", "load_weights", "middle_chroma", "picture_measures", "probe", "read_style_image",
    "remaster",
    "remaster_chunked",
    "restoration_target", "run_batch", "run_frames", "segments_for", "shipped_weights", "style_distance",
    "supports_reuse", "video_metrics",
    "DTYPES", "cpu_has_bf16", "plan_tiling", "psnr", "resolve_precision",
]
