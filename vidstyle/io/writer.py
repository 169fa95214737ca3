"""Encode frames to a new file, with the source's sound and subtitles copied along.

``VideoWriter`` encodes on a thread of its own, takes its timestamps from the
input's, carries over colour tags, pixel aspect ratio and rotation, copies audio
and subtitle packets from the source (trimmed and shifted to the range), and
writes to a hidden temporary file beside the output that is renamed only when
the file is complete. A failed or interrupted run leaves no output behind.

    with VideoWriter(dst, source=reader.info, width=w, height=h, encode=EncodeConfig()) as writer:
        for batch in batches:
            writer.write(frames, pts)   # (B, H, W, 3) uint8 RGB, pts in source time base
        writer.commit()

Frames of a source of more than 8 bits come as uint16 (``dtype``), and are written at 10 bits
unless ``--pix-fmt`` says otherwise. An output named with a pattern (``out/reel_%06d.tif``) is an
image sequence (:mod:`~vidstyle.io.sequence`): libav's image2 muxer writes its frames into a
hidden folder beside it, claimed as a file's temporary is (:func:`~.atomic.claim_output`), and
they are moved into place, numbered as in the source, once all are written. A sequence holds no
sound: the writer says so in :attr:`VideoWriter.warnings`.
"""

from __future__ import annotations

import difflib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..config import EncodeConfig
from ..errors import EncodeError, EncoderOptionError, OutputError
from .atomic import claim_output, refuse_live_partials
from .colour import AVCOL_RGB, avcol_matrix, sws_colorspace, sws_range
from .depth import FLOAT_RGB, HIGH_DEPTH_DTYPE, pixel_depth, rgb_format, to_8bit, top_level
from .packets import PacketCopier
from .probe import VideoInfo, ffmpeg_reason
from .sequence import OutputSequence, is_pattern, pattern_label

__all__ = [
    "COMMON_ENCODERS", "VideoWriter", "check_encoder", "check_output_folder", "check_output_path", "claim_path",
    "resolve_pix_fmt", "video_encoders",
]

log = logging.getLogger(__name__)

_END = object()
# Formats tried, in order, when the user names none and the codec cannot write yuv420p.
_PIX_FMT_PREFERENCE = ("yuv420p", "yuv422p10le", "yuv420p10le", "yuv444p", "yuv444p10le", "nv12", "rgb24")
#: The encoders an archive most often wants, named (those this build has) when --codec is unknown.
COMMON_ENCODERS = ("libx264", "libx265", "ffv1", "prores_ks", "dnxhd", "libsvtav1", "libvpx-vp9", "h264_nvenc",
                   "hevc_nvenc")
#: The size of the encoder opened to try the options, before the real one exists.
_TRIAL_SIZE = 64
# The same, for frames of more than 8 bits: the first with 10 bits or more the codec writes.
_DEEP_PIX_FMT_PREFERENCE = ("yuv420p10le", "yuv422p10le", "yuv444p10le", "yuv420p12le", "yuv444p12le",
                            "gbrp10le", "gbrp12le", "yuv420p16le", "yuv444p16le", "gbrp16le", "rgb48le")


def video_encoders() -> list[str]:
    """Names of the video encoders this build of libav has, sorted."""
    names = []
    for name in av.codecs_available:
        try:
            codec = av.codec.Codec(name, "w")
        except Exception:  # a decoder-only name
            continue
        if codec.type == "video":
            names.append(name)
    return sorted(names)


def check_output_folder(folder: Path) -> None:
    """Refuse a folder that outputs cannot be written to.

    Raises:
        OutputError: the folder is missing, not a folder, or not writable.
    """
    folder = folder if str(folder) else Path(".")
    if not folder.is_dir():
        if folder.exists():
            raise OutputError(f"output folder is a file: {folder}")
        raise OutputError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder is not writable: {folder}")


def claim_path(dst: Path) -> Path:
    """The name :mod:`.atomic` claims an output by: ``dst`` itself, or for an image sequence its
    name with the number as hashes (``reel_######.tif``; its frames go into one hidden folder)."""
    dst = Path(dst)
    return dst.with_name(pattern_label(dst.name)) if is_pattern(dst) else dst


def check_output_path(dst: Path, *, src: Path | None = None, overwrite: bool = False) -> None:
    """Refuse an output that cannot or must not be written, before any work starts.

    Temporaries of ``dst`` that a dead run left are removed on the way (:mod:`.atomic`).

    Raises:
        OutputError: the folder is missing or read-only, the output is a folder, is
            the input itself, exists and ``overwrite`` is False, or another run is writing it.
    """
    dst = Path(dst)
    if src is not None and (
        dst.resolve() == src.resolve() or (dst.exists() and src.exists() and os.path.samefile(dst, src))
    ):
        raise OutputError(f"the output must not be the input file: {dst}")
    check_output_folder(dst.parent)
    if dst.is_dir():
        raise OutputError(f"output is a folder, expected a file name: {dst}")
    if dst.exists() and not overwrite:
        raise OutputError(f"output exists: {dst} (use --overwrite to replace it)")
    refuse_live_partials(claim_path(dst))


def check_encoder(encode: EncodeConfig, *, allow_unknown: bool = False, output: Path | None = None) -> list[str]:
    """Check the encoder and every option it will be given, before any frame is decoded.

    The codec must be a video encoder of this build, the pixel format one it writes, every option
    (``-x``, and ``--crf``/``--preset`` where they apply) one that libav knows for it (its own
    options and the generic ones of every encoder), and the encoder must accept their values:
    it is opened once, small, with them. For an ``output`` named with a pattern (an image
    sequence) the encoder is the one its extension picks, with its default pixel format
    (:class:`~vidstyle.io.sequence.OutputSequence`).

    Returns:
        the options it does not know, as given (``-x key=value``), passed on as they are (only
        with ``allow_unknown``; libav ignores them).
    Raises:
        EncodeError: an unknown codec, not a video one, or a pixel format it cannot write (for an
            image sequence, a codec other than its extension's).
        EncoderOptionError: an option the encoder does not know (unless ``allow_unknown``), or a
            value it refuses.
    """
    if output is not None and is_pattern(output):
        sequence = OutputSequence.for_output(Path(output), encode.codec, encode.pix_fmt, deep=False)
        encode = replace(encode, codec=sequence.encoder, pix_fmt=sequence.pix_fmt)
    codec = _video_codec(encode.codec)
    pix_fmt = resolve_pix_fmt(encode.codec, encode.pix_fmt, _TRIAL_SIZE, _TRIAL_SIZE)
    options = encode.codec_options()
    known = _option_names(encode.codec)
    unknown = [key for key in options if key not in known]
    if unknown and not allow_unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, sorted(known), n=3)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise EncoderOptionError(
            f"{encode.codec} has no option {_as_given(encode, key)}{hint}; "
            f"add --allow-unknown-encoder-options to pass it on anyway"
        )
    refused = _refused_options(codec, pix_fmt, {k: v for k, v in options.items() if k in known})
    if refused:
        given = ", ".join(_as_given(encode, key) for key in refused)
        raise EncoderOptionError(f"{encode.codec} refuses {given}: not a value it takes")
    return [_as_given(encode, key) for key in unknown]


def _video_codec(name: str) -> av.codec.Codec:
    """The video encoder ``name``, or an error that names a few this build has."""
    try:
        codec = av.codec.Codec(name, "w")
    except Exception as ex:
        names = video_encoders()
        close = difflib.get_close_matches(name, names, n=3)
        common = [c for c in COMMON_ENCODERS if c in names]
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise EncodeError(
            f"unknown --codec {name!r}; {hint}common video encoders here: {', '.join(common)} "
            f"({len(names)} video encoders in all)"
        ) from ex
    if codec.type != "video":
        article = "an" if codec.type[:1] in "aeiou" else "a"
        raise EncodeError(f"--codec {name!r} is {article} {codec.type} encoder, not a video one")
    return codec


def _option_names(codec_name: str) -> set[str]:
    """Every option name libav takes for ``codec_name``: the encoder's own and the generic ones."""
    supported = av.codec.CodecContext.create(codec_name, "w").supported_options
    return {option.name for option in (*supported.generic, *supported.private)}


def _as_given(encode: EncodeConfig, key: str) -> str:
    """How the user gave option ``key``: ``-x key=value``, or ``--crf``/``--preset``."""
    given = dict(encode.options)
    if key in given:
        return f"-x {key}={given[key]}"
    return f"--{key} {encode.codec_options()[key]}"


def _refused_options(codec: av.codec.Codec, pix_fmt: str, options: dict[str, str]) -> list[str]:
    """The options whose values the encoder refuses when it is opened with them.

    An encoder that cannot be opened small even without options (one that needs a standard frame
    size, or a device) says nothing about them: none is refused here, and the real open judges.
    The encoders' own complaints (x264 and x265 write to the terminal themselves) are kept
    quiet: the error names the options.
    """
    if not options:
        return []
    with _quiet_stderr():
        if _opens(codec, pix_fmt, options) or not _opens(codec, pix_fmt, {}):
            return []
        alone = [key for key, value in options.items() if not _opens(codec, pix_fmt, {key: value})]
    return alone or list(options)


def _opens(codec: av.codec.Codec, pix_fmt: str, options: dict[str, str]) -> bool:
    """Whether ``codec`` opens, small, with ``options``."""
    context = av.codec.CodecContext.create(codec, "w")
    context.width = context.height = _TRIAL_SIZE
    context.pix_fmt = pix_fmt
    context.time_base = Fraction(1, 25)
    context.framerate = Fraction(25)
    context.thread_count = 1
    context.options = dict(options)
    try:
        context.open()
    except (av.FFmpegError, ValueError):
        return False
    return True


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send what C libraries write to file descriptor 2 to /dev/null for the block (it runs
    before any work, on one thread)."""
    if sys.stderr is not None:
        sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def resolve_pix_fmt(codec_name: str, pix_fmt: str | None, width: int, height: int, *, deep: bool = False) -> str:
    """Check the encoder and pick or check its pixel format (``deep``: for frames of more than 8
    bits, a format of 10 bits or more when the codec writes one).

    Raises:
        EncodeError: unknown encoder, a format it cannot write (the message lists the
            ones it can), or a size the format's chroma subsampling cannot hold.
    """
    codec = _video_codec(codec_name)
    supported = [f.name for f in (codec.video_formats or ())]
    if pix_fmt is None:
        preference = (*_DEEP_PIX_FMT_PREFERENCE, *_PIX_FMT_PREFERENCE) if deep else _PIX_FMT_PREFERENCE
        pix_fmt = next((f for f in preference if f in supported), supported[0] if supported else "yuv420p")
    else:
        try:
            av.VideoFormat(pix_fmt)
        except Exception as ex:
            raise EncodeError(f"unknown --pix-fmt {pix_fmt!r}; {codec_name} writes: {', '.join(supported)}") from ex
        if supported and pix_fmt not in supported:
            raise EncodeError(f"{codec_name} cannot write --pix-fmt {pix_fmt}; it writes: {', '.join(supported)}")
    probe_fmt = av.VideoFormat(pix_fmt, 16, 16)
    if len(probe_fmt.components) >= 3 and not probe_fmt.is_rgb:
        chroma = probe_fmt.components[1]
        if (chroma.width < 16 and width % 2) or (chroma.height < 16 and height % 2):
            raise EncodeError(
                f"{pix_fmt} needs an even width and height, the output would be {width}x{height}; "
                f"use --scale 2 or a 4:4:4 format such as --pix-fmt yuv444p"
            )
    return pix_fmt


class VideoWriter:
    """Encode RGB frames to ``dst`` with the sound of ``source`` copied along.

    Args:
        dst: the output file; its extension picks the container. A name with a frame number
            pattern (``reel_%06d.tif``) writes an image sequence, its extension the image encoder
            (``encode.codec`` left at libx264; see :class:`~vidstyle.io.sequence.OutputSequence`).
        source: the input's :class:`VideoInfo` (timing, tags, streams to copy).
        width, height: output size in pixels.
        encode: codec, quality and pixel format.
        dtype: the frames' dtype, uint8, or uint16 for a source of more than 8 bits (a pixel
            format of 10 bits or more is then the default).
        trim: copy only the audio/subtitles of the written range (set for a range
            of the input; unset for a whole file, whose sound is copied whole).
        copy_streams: copy audio and subtitles at all.
        overwrite: replace an existing ``dst``.
        queue_depth: batches buffered before ``write`` blocks.
    """

    def __init__(
        self,
        dst: str | os.PathLike[str],
        *,
        source: VideoInfo,
        width: int,
        height: int,
        encode: EncodeConfig | None = None,
        trim: bool = False,
        copy_streams: bool = True,
        overwrite: bool = False,
        queue_depth: int = 4,
        dtype: type[np.unsignedinteger] = np.uint8,
    ) -> None:
        self.dst = Path(dst)
        self.source = source
        self.width, self.height = width, height
        self.encode = encode or EncodeConfig()
        self.trim = trim
        self.overwrite = overwrite
        self.dtype = np.dtype(dtype)
        deep = self.dtype == HIGH_DEPTH_DTYPE
        #: Lines for the user about what was not written (a sequence's sound).
        self.warnings: list[str] = []
        self.sequence: OutputSequence | None = None
        check_output_path(self.dst, src=source.path, overwrite=overwrite)
        if is_pattern(self.dst):
            self.sequence = OutputSequence.for_output(self.dst, self.encode.codec, self.encode.pix_fmt, deep=deep)
            _check_frames_on_disk(self.sequence, source, overwrite)
            self.pix_fmt = resolve_pix_fmt(self.sequence.encoder, self.sequence.pix_fmt, width, height)
            # The frames go into a claimed hidden folder (a killed run's is swept like a file).
            self._claim = claim_output(claim_path(self.dst), folder=True)
            copy_streams = False
            if source.audio:
                self.warnings.append(f"the sound of {source.path.name} is not written: an image sequence holds "
                                     f"none ({len(source.audio)} audio stream(s) left out)")
        else:
            self.pix_fmt = resolve_pix_fmt(self.encode.codec, self.encode.pix_fmt, width, height, deep=deep)
            self._claim = claim_output(self.dst)
        self.tmp = self._claim.tmp

        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_depth))
        self._error: BaseException | None = None
        self._stop = threading.Event()
        #: Set by the encode thread when it has taken the end marker off the queue (no more puts follow).
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._origin_pts: int | None = None
        self._last_pts: int | None = None
        #: Frames encoded, and seconds the encode thread spent working.
        self.frames_written = 0
        self.busy_seconds = 0.0

        try:
            if self.sequence is None:
                self._out = av.open(str(self.tmp), mode="w")
            else:  # frames 00000000.tif ... in the hidden folder, numbered as in the source at commit
                self._out = av.open(str(self.tmp / f"%08d{self.dst.suffix}"), mode="w", format="image2",
                                    options={"start_number": "0"})
        except (av.FFmpegError, ValueError) as ex:
            self._remove_tmp()
            raise OutputError(
                f"cannot write {self.dst.name}: unknown container for {self.dst.suffix or 'no extension'!r} "
                f"(use .mp4, .mkv or .mov)"
            ) from ex
        self._copier: PacketCopier | None = None
        try:
            self._stream = self._add_video_stream()
            if copy_streams and (source.audio or source.subtitles):
                self._copier = PacketCopier(source.path, source, self._out)
            self._out.start_encoding()
        except av.FFmpegError as ex:
            self.abort()
            raise EncodeError(
                f"cannot encode {self.encode.codec} {self.pix_fmt} {width}x{height} into "
                f"{self.dst.suffix or 'this container'}: {ffmpeg_reason(ex)}"
            ) from ex
        except BaseException:
            self.abort()
            raise

    def _add_video_stream(self) -> av.video.stream.VideoStream:
        src, enc = self.source, self.encode
        if self.sequence is None:
            codec, options = enc.codec, enc.codec_options()
        else:  # an image encoder has no crf or preset
            codec, options = self.sequence.encoder, dict(enc.options)
        if codec not in self._out.supported_codecs:
            raise EncodeError(
                f"the {self.dst.suffix} container cannot hold {codec} video; try .mkv"
            )
        stream = self._out.add_stream(codec, rate=src.fps, options=options)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = self.pix_fmt
        stream.time_base = src.time_base
        cc = stream.codec_context
        cc.time_base = src.time_base
        cc.framerate = src.fps
        cc.thread_count = enc.threads
        cc.thread_type = "AUTO"
        if src.color_primaries != 2:
            cc.color_primaries = src.color_primaries
        if src.color_trc != 2:
            cc.color_trc = src.color_trc
        self._colorspace = sws_colorspace(src.colorspace, src.height)
        if src.colorspace == AVCOL_RGB and not av.VideoFormat(self.pix_fmt).is_rgb:
            # An RGB source (DPX, TIFF) written as YUV: tagged with the matrix the writer converts with.
            cc.colorspace = avcol_matrix(self._colorspace)
        elif src.colorspace != 2:
            cc.colorspace = src.colorspace
        if src.color_range:
            cc.color_range = src.color_range
        if src.sample_aspect_ratio not in (0, 1):
            cc.sample_aspect_ratio = src.sample_aspect_ratio
        if src.rotation:
            stream.set_display_rotation(src.rotation)
        self._range = sws_range(src.color_range)
        return stream

    # -- public -------------------------------------------------------------------------
    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._closed:
            self.abort()

    def write(self, frames: np.ndarray, pts: np.ndarray) -> None:
        """Queue a batch for encoding.

        Args:
            frames: (B, H, W, 3) RGB at the writer's size, of the writer's ``dtype``.
            pts: (B,) timestamps in the source's time base; the first frame ever
                written becomes time zero of the output.
        """
        self._raise_if_failed()
        if frames.ndim != 4 or frames.shape[1:] != (self.height, self.width, 3) or frames.dtype != self.dtype:
            raise ValueError(
                f"frames should be (B, {self.height}, {self.width}, 3) {self.dtype}, "
                f"instead got {tuple(frames.shape)} {frames.dtype}"
            )
        if len(frames) != len(pts):
            raise ValueError(f"got {len(frames)} frames but {len(pts)} timestamps")
        if self._thread is None:
            self._origin_pts = int(pts[0])
            if self._copier is not None:
                self._copier.start(self._origin_pts * self.source.time_base, self.trim)
            self._thread = threading.Thread(target=self._encode_thread, name="vidstyle-encode", daemon=True)
            self._thread.start()
        while True:
            try:
                self._queue.put((frames, np.asarray(pts, dtype=np.int64)), timeout=0.1)
                break
            except queue.Full:
                self._raise_if_failed()
        self._last_pts = int(pts[-1])

    def commit(self) -> Path:
        """Finish encoding, copy the rest of the sound, and move the file into place.

        Returns:
            the output path.
        Raises:
            EncodeError: encoding failed; the temporary file is removed.
            OutputError: nothing was written, or ``dst`` appeared meanwhile.
        """
        try:
            if self._thread is None:
                raise OutputError(f"no frame was written to {self.dst.name}")
            self._queue.put(_END)
            self._thread.join()
            self._raise_if_failed()
            try:
                self._out.close()
            except av.FFmpegError as ex:  # the muxer's trailer (a damaged source's sound, say)
                refused = self._copier.refused if self._copier is not None else 0
                why = f" (after {refused} damaged sound packet(s) of the source were refused)" if refused else ""
                raise EncodeError(f"finishing {self.dst.name} failed: {ffmpeg_reason(ex)}{why}") from ex
            self._closed = True
            if self.sequence is not None:
                self._place_frames()
                return self.dst
            if self.dst.exists() and not self.overwrite:
                raise OutputError(f"output appeared while working: {self.dst} (use --overwrite to replace it)")
            return self._claim.commit()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop encoding and delete the temporary file. Safe to call more than once."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            while self._thread.is_alive():
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    self._thread.join(timeout=0.05)
        if self._copier is not None:
            self._copier.close()
        if not self._closed:
            self._closed = True
            try:
                self._out.close()
            except Exception:  # a half-written file may not close cleanly; it is deleted below
                pass
        self._remove_tmp()

    # -- encode thread ------------------------------------------------------------------
    def _raise_if_failed(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def _remove_tmp(self) -> None:
        self._claim.discard()

    def _rgb_depth(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """For an RGB output of another depth than the frames (8-bit frames into 16-bit TIFF or 10-bit
        DPX, 16-bit frames into 8-bit PNG): the frames widened (x 257) or narrowed (rounded) here, as
        swscale does neither exactly (it makes 8-bit white 65283 of 65535, and 254 x 257 255)."""
        if self.sequence is None or not av.VideoFormat(self.pix_fmt).is_rgb or self.pix_fmt == FLOAT_RGB:
            return None
        deep_out = pixel_depth(self.pix_fmt) > 8
        if self.dtype == np.uint8 and deep_out:
            return lambda frames: frames.astype(HIGH_DEPTH_DTYPE) * HIGH_DEPTH_DTYPE(257)
        if self.dtype == HIGH_DEPTH_DTYPE and not deep_out:
            return to_8bit
        return None

    def _place_frames(self) -> None:
        """Move a sequence's frames into place, numbered from the source's number of the first frame
        written (a sequence's own numbers; a video's frame index, from 0). With ``overwrite``, frames of
        the pattern that this run did not write are removed: the output is this run's sequence."""
        sequence, src = self.sequence, self.source
        assert sequence is not None and self._origin_pts is not None
        index = round((self._origin_pts - src.start_pts) * src.time_base * src.fps)
        first = index + (src.sequence.first if src.sequence is not None else 0)
        moves = [(self.tmp / f"{k:08d}{self.dst.suffix}", sequence.frame_path(first + k))
                 for k in range(self.frames_written)]
        stale = set(sequence.on_disk()) - {dst for _, dst in moves}
        if (stale or any(dst.exists() for _, dst in moves)) and not self.overwrite:
            raise OutputError(f"output frames appeared while working: {sequence.label} in {self.dst.parent} "
                              f"(use --overwrite to replace them)")
        for path in stale:
            path.unlink(missing_ok=True)
        self._claim.commit_files(moves)

    def _encode_thread(self) -> None:
        try:
            self._encode_loop()
        except av.FFmpegError as ex:
            self._error = EncodeError(f"encoding {self.dst.name} failed: {ffmpeg_reason(ex)}")
            self._error.__cause__ = ex
        except BaseException as ex:
            self._error = ex
        if self._error is not None:  # let a blocked producer notice
            # (after the end marker nothing more is put: an error of the final flush must not wait for it)
            while not self._stop.is_set() and not self._ended.is_set():
                try:
                    if self._queue.get(timeout=0.1) is _END:
                        return
                except queue.Empty:
                    continue

    def _encode_loop(self) -> None:
        src, stream, out = self.source, self._stream, self._out
        depth = self._rgb_depth()
        tb = src.time_base
        origin = self._origin_pts
        assert origin is not None
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue  # look at the stop flag again
            if item is _END:
                self._ended.set()
                break
            tick = time.perf_counter()
            frames, pts = item
            if depth is not None:
                frames = depth(frames)
            for rgb, p in zip(frames, pts):
                if self.pix_fmt == FLOAT_RGB:  # EXR: by hand, as swscale's conversion errs
                    frame = av.VideoFrame.from_ndarray((rgb / np.float32(top_level(rgb.dtype))).astype(np.float32),
                                                       format=FLOAT_RGB)
                else:
                    frame = av.VideoFrame.from_ndarray(rgb, format=rgb_format(frames.dtype))
                    frame = frame.reformat(
                        format=self.pix_fmt, dst_colorspace=self._colorspace, dst_color_range=self._range
                    )
                frame.pts = int(p) - origin
                frame.time_base = tb
                for packet in stream.encode(frame):
                    out.mux(packet)
                self.frames_written += 1
            if self._copier is not None:
                self._copier.advance(int(pts[-1]) * tb)
            self.busy_seconds += time.perf_counter() - tick
        if self._stop.is_set():
            return
        tick = time.perf_counter()
        for packet in stream.encode(None):
            out.mux(packet)
        if self._copier is not None:
            end = None
            if self.trim and self._last_pts is not None:
                end = self._last_pts * tb + src.frame_duration
            self._copier.finish(end)
        self.busy_seconds += time.perf_counter() - tick


def _check_frames_on_disk(sequence: OutputSequence, source: VideoInfo, overwrite: bool) -> None:
    """Refuse an output sequence whose frames exist (unless ``overwrite``), or whose frames would
    be the input's own (always).

    Raises:
        OutputError: as above.
    """
    inputs = source.sequence
    if inputs is not None and any(sequence.frame_path(n).resolve() == inputs.frame_path(n).resolve()
                                  for n in (inputs.first, inputs.last)):
        raise OutputError(f"the output frames would overwrite the input's: {sequence.pattern}")
    existing = sequence.on_disk()
    if existing and not overwrite:
        raise OutputError(f"output frames exist: {len(existing)} of {sequence.label} in {sequence.pattern.parent}, "
                          f"such as {existing[0].name} (use --overwrite to replace them)")
