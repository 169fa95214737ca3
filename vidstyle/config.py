"""Typed settings of a remaster run.

Every knob of the pipeline is a field of a frozen dataclass here, documented where
it is defined and checked in ``__post_init__``; the CLI builds these objects and
takes its choices and defaults from the constants below, so the two never drift.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from .errors import ConfigError
from .timecode import TimePoint, parse_frame_rate, parse_timepoint

__all__ = [
    "SCALES",
    "DEFAULT_SCALE",
    "DEVICES",
    "DEFAULT_MODEL",
    "DEFAULT_BLEND_TOLERANCE",
    "EncodeConfig",
    "RangeConfig",
    "RemasterConfig",
    "TemporalConfig",
    "TEMPORAL_MODES",
    "FLOW_PRESET_NAMES",
    "REPAIR_MODES",
    "REPAIR_PARTS",
    "RepairConfig",
    "ON_DAMAGE",
    "GRAIN_SIZES",
    "GRAIN_STRENGTHS",
    "GrainConfig",
    "PRECISIONS",
]

#: Upscaling factors the pipeline supports.
SCALES = (1, 2, 4)
#: The scale when none is asked for (a model file brings its own: ``vidstyle remaster --model FILE``).
DEFAULT_SCALE = 2
#: Where the network runs; ``auto`` picks cuda, then mps, then cpu.
DEVICES = ("auto", "cpu", "cuda", "mps")
#: The model used when none is named: ``auto`` is the shipped remaster model for the scale.
DEFAULT_MODEL = "auto"
#: What the network computes in; ``auto`` is half precision where it is faster and keeps the
#: picture (:mod:`vidstyle.models.precision`), else fp32.
PRECISIONS = ("auto", "fp32", "fp16", "bf16")

#: Encoders that take a constant rate factor (``-crf``) and those that take ``-preset``.
CRF_CODECS = frozenset({"libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"})
PRESET_CODECS = frozenset({"libx264", "libx265", "libsvtav1"})


@dataclass(frozen=True)
class EncodeConfig:
    """How the output video stream is encoded."""

    #: Any libav video encoder: libx264 (default), libx265, ffv1, prores_ks, ...
    codec: str = "libx264"
    #: Constant rate factor for codecs that have one (lower is better; x264 18 is near
    #: transparent). ``None`` leaves the encoder's own default.
    crf: int | None = 18
    #: Speed/size trade-off for x264/x265/SVT-AV1 (``ultrafast`` ... ``veryslow``).
    preset: str | None = "medium"
    #: Output pixel format. ``None`` picks yuv420p, or the codec's closest format when
    #: it cannot write yuv420p (prores_ks, for instance, writes 4:2:2 10-bit); for a source of
    #: more than 8 bits a format of 10 bits or more (yuv420p10le); for image frames 10-bit DPX,
    #: 16-bit TIFF (:class:`vidstyle.io.sequence.OutputSequence`).
    pix_fmt: str | None = None
    #: Extra encoder options, passed to libav as they are (``-x key=value``).
    options: tuple[tuple[str, str], ...] = ()
    #: Encoder threads; 0 lets the encoder decide.
    threads: int = 0

    def __post_init__(self) -> None:
        if not self.codec:
            raise ConfigError("codec must be an encoder name such as libx264, got ''")
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise ConfigError(f"crf must be between 0 and 63, got {self.crf}")
        if self.threads < 0:
            raise ConfigError(f"encoder threads must be 0 (auto) or more, got {self.threads}")
        for item in self.options:
            if len(item) != 2 or not item[0]:
                raise ConfigError(f"encoder options must be (key, value) pairs, got {item!r}")

    def codec_options(self) -> dict[str, str]:
        """The libav options this config asks of the encoder."""
        opts: dict[str, str] = {}
        if self.crf is not None and self.codec in CRF_CODECS:
            opts["crf"] = str(self.crf)
        if self.preset and self.codec in PRESET_CODECS:
            opts["preset"] = self.preset
        opts.update(dict(self.options))
        return opts


@dataclass(frozen=True)
class RangeConfig:
    """Which frames of the input are processed: ``[start, end)``, at most ``frames`` of them.

    Points are :class:`~vidstyle.timecode.TimePoint` values or strings that parse to
    one (``"00:01:00"``, ``"12.5"``, ``"f1200"``). All unset means the whole file.
    """

    start: TimePoint | None = None
    end: TimePoint | None = None
    #: The most frames to process from ``start``.
    frames: int | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, TimePoint):
                object.__setattr__(self, name, parse_timepoint(value))
        if self.frames is not None and self.frames < 1:
            raise ConfigError(f"frames must be 1 or more, got {self.frames}")
        if self.start is not None and self.end is not None:
            both_seconds = self.start.seconds is not None and self.end.seconds is not None
            both_frames = self.start.frame is not None and self.end.frame is not None
            if (both_seconds and self.end.seconds <= self.start.seconds) or (
                both_frames and self.end.frame <= self.start.frame
            ):
                raise ConfigError(f"--end {self.end} must come after --start {self.start}")

    @property
    def is_full(self) -> bool:
        """True when the whole file is selected."""
        return self.start is None and self.end is None and self.frames is None


#: Blend tolerance of a model whose card names none (the remaster models): chosen with
#: the blend strength on training frames (pipelines/benchmark, its temporal section).
DEFAULT_BLEND_TOLERANCE = 24.0
#: ``--temporal``: ``auto`` is ``reuse`` for models trained for it where reuse is the faster mode on
#: the device (:func:`vidstyle.temporal.stage.auto_mode`), ``off`` for the others.
TEMPORAL_MODES = ("auto", "reuse", "blend", "off")
#: OpenCV DIS presets, fastest first.
FLOW_PRESET_NAMES = ("ultrafast", "fast", "medium", "fine")


@dataclass(frozen=True)
class TemporalConfig:
    """How consecutive frames are kept consistent (see :mod:`vidstyle.temporal.stage`)."""

    #: ``reuse``: keyframes run the whole network, the frames between reuse their warped deep
    #: features (faster and steadier; our models only). ``blend``: every frame runs the whole
    #: model, then the warped previous output is mixed in (any model). ``off``: frame by frame.
    #: ``auto``: ``reuse`` when the model can, else ``off``.
    mode: str = "auto"
    #: With ``reuse``, a keyframe at least every this many frames (also at cuts and where the
    #: flow fails).
    keyframe_interval: int = 4
    #: OpenCV DIS preset of the optical flow (:data:`vidstyle.temporal.flow.FLOW_PRESETS`); ``fine``
    #: since 2026-12-06 (``medium`` before): see :data:`vidstyle.temporal.flow.FINE`.
    flow_preset: str = "fine"
    #: The flow is computed at 1/flow_downscale of the frame size.
    flow_downscale: int = 2
    #: A frame whose flow is reliable on less than this share of the picture is a keyframe.
    min_reliable: float = 0.5
    #: Weight of the earlier output, warped by the flow, mixed into each frame where the flow is
    #: reliable and the two agree (``blend``; and ``reuse``, towards the keyframe's output).
    #: 0 turns the mixing off. 0.7 was chosen on training frames (pipelines/benchmark, its temporal section).
    blend_strength: float = 0.7
    #: Colour difference (BT.601 luma of it, 0-255) at which the earlier output is no longer
    #: mixed in. None: the model's own (:data:`DEFAULT_BLEND_TOLERANCE` for the remaster models;
    #: a style's card names a larger one, as a stylized picture differs more from frame to frame).
    blend_tolerance: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in TEMPORAL_MODES:
            raise ConfigError(f"temporal mode must be one of {', '.join(TEMPORAL_MODES)}, got {self.mode!r}")
        if isinstance(self.keyframe_interval, bool) or not isinstance(self.keyframe_interval, int) \
                or self.keyframe_interval < 1:
            raise ConfigError(f"--keyframe-interval must be 1 or more, got {self.keyframe_interval}")
        if self.flow_preset not in FLOW_PRESET_NAMES:
            raise ConfigError(f"flow preset must be one of {', '.join(FLOW_PRESET_NAMES)}, got {self.flow_preset!r}")
        if not isinstance(self.flow_downscale, int) or not 1 <= self.flow_downscale <= 8:
            raise ConfigError(f"flow downscale must be an integer from 1 to 8, got {self.flow_downscale!r}")
        if not 0.0 <= self.min_reliable <= 1.0:
            raise ConfigError(f"min_reliable must be in [0, 1], got {self.min_reliable}")
        if not 0.0 <= self.blend_strength < 1.0:
            raise ConfigError(f"blend strength must be in [0, 1), got {self.blend_strength}")
        if self.blend_tolerance is not None and not self.blend_tolerance > 0:
            raise ConfigError(f"blend tolerance must be above 0, got {self.blend_tolerance}")


#: ``--repair`` values: ``auto`` repairs what the parts find, ``off`` passes frames through.
REPAIR_MODES = ("auto", "off")
#: The parts of the repair stage ``--repair-parts`` chooses from (all of them by default).
REPAIR_PARTS = ("spots", "scratches", "flicker", "grain")


@dataclass(frozen=True)
class RepairConfig:
    """The repair stage (:mod:`vidstyle.restore`): damage of one frame, mended from its neighbours
    along the optical flow before the network sees the frame."""

    #: ``auto`` (the default): repair what the parts find; ``off``: the frames go to the network as
    #: decoded. On by default since it does no harm on clean footage by the benchmark's measure (its
    #: repair section: -0.07 and -0.05 dB against off, under 0.01% of the pixels touched) and mends
    #: what a single-frame network cannot tell from the picture (see the README).
    mode: str = "auto"
    #: Dust and dirt: specks on one frame that its two neighbours, along the flow, do not have.
    spots: bool = True
    #: Vertical line scratches that persist over frames.
    scratches: bool = True
    #: Changes of brightness from frame to frame that the content does not explain.
    flicker: bool = True
    #: Film grain and noise, averaged with the neighbours where they show the same picture.
    grain: bool = True
    #: Levels and colour balance per shot (faded prints, casts); off by default, since the
    #: models keep the tone they are given and a restorer may want the print's own.
    grade: bool = False

    def __post_init__(self) -> None:
        if self.mode not in REPAIR_MODES:
            raise ConfigError(f"repair must be one of {', '.join(REPAIR_MODES)}, got {self.mode!r}")
        for name in (*REPAIR_PARTS, "grade"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"repair part {name} must be True or False, got {getattr(self, name)!r}")

    @property
    def active(self) -> bool:
        """Whether the stage does anything: on, with at least one part (or the grade) chosen."""
        return self.mode != "off" and (self.spots or self.scratches or self.flicker or self.grain or self.grade)

    @classmethod
    def from_parts(cls, mode: str, parts: str, grade: str = "off") -> RepairConfig:
        """From the CLI's words: ``parts`` a comma list of :data:`REPAIR_PARTS` (``all`` or ``none``
        too), ``grade`` ``off`` or ``auto``."""
        words = [w.strip() for w in parts.split(",") if w.strip()]
        if words == ["all"]:
            words = list(REPAIR_PARTS)
        elif words == ["none"]:
            words = []
        unknown = [w for w in words if w not in REPAIR_PARTS]
        if unknown:
            raise ConfigError(f"unknown repair part {unknown[0]!r}; choose from {', '.join(REPAIR_PARTS)}, all or none")
        if grade not in ("off", "auto"):
            raise ConfigError(f"grade must be off or auto, got {grade!r}")
        return cls(mode=mode, grade=grade == "auto", **{part: part in words for part in REPAIR_PARTS})


#: ``--on-damage``: what a run does with a damaged source (frames that fail to decode or decode with
#: errors, a file that ends early; see :mod:`vidstyle.io.damage`). ``warn``: go on, say so in a
#: warning and the report. ``fail``: stop with an error, write nothing. ``conceal``: as warn, and a
#: frame that fails to decode is replaced by the previous one, so the count and timing stay exact.
ON_DAMAGE = ("warn", "fail", "conceal")


#: ``--grain``: the strengths (levels of 255, RMS at mid-grey) and the sizes (Gaussian sigma in
#: output pixels) it accepts, inclusive.
GRAIN_STRENGTHS = (0.0, 64.0)
GRAIN_SIZES = (0.5, 8.0)


@dataclass(frozen=True)
class GrainConfig:
    """Film grain put back on the output, after the network and the look
    (:mod:`vidstyle.finish.grain`)."""

    #: How strong: the grain's RMS in levels of 255 at mid-grey, where it is strongest (a quarter
    #: of it at black and white). 0: no grain, the output untouched. 3 is fine, 8 heavy.
    strength: float = 0.0
    #: How coarse: the sigma, in output pixels, of the Gaussian that shapes the grain's spectrum.
    size: float = 1.0
    #: With each frame's timestamp, picks its grain: the same seed gives the same grain, in a
    #: whole run and in the segments of a long film alike.
    seed: int = 0

    def __post_init__(self) -> None:
        low, high = GRAIN_STRENGTHS
        if not low <= self.strength <= high:
            raise ConfigError(f"grain strength must be from {low:g} to {high:g} levels, got {self.strength:g}")
        low, high = GRAIN_SIZES
        if not low <= self.size <= high:
            raise ConfigError(f"grain size must be from {low:g} to {high:g} pixels, got {self.size:g}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"grain seed must be a whole number 0 or more, got {self.seed!r}")

    @property
    def active(self) -> bool:
        return self.strength > 0

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> GrainConfig:
        """From the CLI's ``STRENGTH[:SIZE]``, e.g. ``4`` or ``6:1.5``."""
        parts = text.split(":")
        try:
            if len(parts) > 2:
                raise ValueError(text)
            values = float(parts[0]), float(parts[1]) if len(parts) == 2 else cls.size
        except ValueError:
            raise ConfigError(f"grain must be STRENGTH or STRENGTH:SIZE (numbers, e.g. 4 or 6:1.5), "
                              f"got {text!r}") from None
        if not all(map(math.isfinite, values)):
            raise ConfigError(f"grain must be finite numbers, got {text!r}")
        return cls(strength=values[0], size=values[1], seed=seed)


@dataclass(frozen=True)
class RemasterConfig:
    """Everything :func:`vidstyle.remaster` needs besides the two paths."""

    #: Upscaling factor: 1, 2 or 4 (a model file's own scale must agree).
    scale: int = DEFAULT_SCALE
    #: ``auto`` (remaster-x2 / remaster-x4 for the scale), a name from ``vidstyle models``,
    #: or a path to a weights file: ours with its card, or any .pth/.pt/.ckpt/.safetensors
    #: that spandrel recognises (:mod:`vidstyle.models.outside`).
    model: str = DEFAULT_MODEL
    #: Frames per network call. Larger batches use the cores better but hold more memory.
    batch_size: int = 4
    #: ``auto``, ``cpu``, ``cuda`` or ``mps``.
    device: str = "auto"
    #: The frames to process.
    range: RangeConfig = field(default_factory=RangeConfig)
    #: How the output is encoded.
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    #: Consistency between frames: feature reuse, blending, or none.
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    #: Dust, dirt, scratches and flicker mended from the neighbouring frames, before the network.
    repair: RepairConfig = field(default_factory=RepairConfig)
    #: Batches held between stages; memory is about 2 x queue_depth x batch_size frames.
    queue_depth: int = 4
    #: Replace an existing output file.
    overwrite: bool = False
    #: A style to paint in (``vidstyle styles``, or a file from ``vidstyle train-style``); it
    #: takes the model's place, restoring and upscaling too. None: no style.
    style: str | None = None
    #: 1: the full style; lower blends toward the plain remaster model; 0: no style at all.
    style_strength: float = 1.0
    #: What to do with a damaged source: one of :data:`ON_DAMAGE`.
    on_damage: str = "warn"
    #: A film look applied to the output, after the network: a bundled look's name (``vidstyle
    #: styles``) or a ``.cube`` 3D LUT file. None: no look.
    look: str | None = None
    #: Film grain put back on the output, after the look.
    grain: GrainConfig = field(default_factory=GrainConfig)
    #: Run the network on overlapping tiles of this many input pixels a side, blended without
    #: seams (:mod:`vidstyle.models.tiles`), so that memory does not grow with the frame. 0: whole
    #: frames. ``auto``: tiles only when a whole frame would not fit in a quarter of the free memory.
    tile: int | str = 0
    #: ``auto``, ``fp32``, ``fp16`` or ``bf16`` (:data:`PRECISIONS`): what the network computes in.
    precision: str = "auto"
    #: The frame rate of an image sequence (``--fps``; a number, ``"24000/1001"`` or a Fraction):
    #: TIFF, PNG and EXR files hold none, a DPX header may (this overrides it). A video file keeps
    #: its own rate. None: the files' own.
    fps: Fraction | None = None

    def __post_init__(self) -> None:
        if self.fps is not None:
            object.__setattr__(self, "fps", parse_frame_rate(self.fps))
        if not 0.0 <= self.style_strength <= 1.0:
            raise ConfigError(f"style strength must be between 0 and 1, got {self.style_strength:g}")
        if self.scale not in SCALES:
            raise ConfigError(f"scale must be 1, 2 or 4, got {self.scale}")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be 1 or more, got {self.batch_size}")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.queue_depth < 1:
            raise ConfigError(f"queue depth must be 1 or more, got {self.queue_depth}")
        if not self.model:
            raise ConfigError("model must be a name or a path, got ''")
        if self.on_damage not in ON_DAMAGE:
            raise ConfigError(f"on_damage must be one of {', '.join(ON_DAMAGE)}, got {self.on_damage!r}")
        if self.look is not None and not self.look:
            raise ConfigError("look must be a name or a .cube file, got ''")
        if self.tile != "auto" and (isinstance(self.tile, bool) or not isinstance(self.tile, int) or self.tile < 0):
            raise ConfigError(f"tile must be 0 (whole frames), a size in pixels or 'auto', got {self.tile!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly settings, for reports."""
        data = asdict(self)
        data["range"] = {
            "start": str(self.range.start) if self.range.start else None,
            "end": str(self.range.end) if self.range.end else None,
            "frames": self.range.frames,
        }
        data["encode"]["options"] = dict(self.encode.options)
        data["fps"] = None if self.fps is None else str(self.fps)
        return data
