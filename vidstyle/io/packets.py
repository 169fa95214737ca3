"""Copying a source's audio and subtitle packets into a new file, on the output's clock.

:class:`PacketCopier` is what gives a remastered file its sound: the writer
(:class:`~vidstyle.io.writer.VideoWriter`) and the join of a long film's segments
(:func:`vidstyle.io.remux.join_segments`) both mux the source's packets, trimmed to the range
and shifted so that the first video frame is time zero, interleaved with the video they write.
Streams the output container cannot hold are re-encoded (audio to AAC) or left out.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av

from .probe import VideoInfo, ffmpeg_reason, open_input

__all__ = ["PacketCopier"]

log = logging.getLogger(__name__)


class PacketCopier:
    """Copies audio and subtitle packets of the source into the output, in time order.

    Times are seconds on the source's clock; output timestamps are shifted so that
    ``origin`` (the first output video frame) becomes zero. With ``trim``, only
    packets that start in ``[origin, end)`` are kept.
    """

    def __init__(self, src: Path, info: VideoInfo, out: av.container.OutputContainer) -> None:
        self.input = open_input(src)
        self.pairs: dict[int, tuple[av.stream.Stream, av.stream.Stream | None]] = {}
        self.reencoded: set[int] = set()  # source streams decoded and re-encoded to AAC
        supported = out.supported_codecs
        wanted = {s.index for s in info.audio} | {s.index for s in info.subtitles}
        for stream in self.input.streams:
            if stream.index not in wanted:
                continue
            cc = stream.codec_context
            if cc is None or (stream.type == "audio" and not (cc.sample_rate and cc.channels)):
                # (damage in the file's headers: no container takes such a stream, and the output would fail)
                log.warning("%s: %s stream #%d has no known codec, sample rate or channels (damaged?): it is left "
                            "out", src.name, stream.type, stream.index)
                continue
            name = cc.name
            if name in supported:
                self.pairs[stream.index] = (stream, out.add_stream_from_template(stream))
            elif stream.type == "audio" and "aac" in supported:
                log.info("the %s container cannot hold %s audio: re-encoding stream #%d to AAC",
                         out.format.name, name, stream.index)
                enc = out.add_stream("aac", rate=stream.codec_context.sample_rate or 48000)
                enc.layout = stream.codec_context.layout
                enc.bit_rate = 192_000
                self.pairs[stream.index] = (stream, enc)
                self.reencoded.add(stream.index)
            else:
                log.warning("the %s container cannot hold %s %s: stream #%d is left out",
                            out.format.name, name, stream.type, stream.index)
        self.streams = [pair[0] for pair in self.pairs.values()]
        self.out = out
        self.origin: Fraction = Fraction(0)
        self.trim = False
        self._packets = None
        self._pending: av.Packet | None = None
        self._done = not self.streams
        #: Packets of a damaged source that could not be copied (the muxer or the AAC encoder refused
        #: them), and libav's words for the first.
        self.refused = 0
        self._refusal = ""

    def start(self, origin: Fraction, trim: bool) -> None:
        """Begin at source time ``origin`` (seconds), the output's time zero; seek there with ``trim``."""
        self.origin, self.trim = origin, trim
        if not self.streams:
            return
        if trim and origin > 0:
            try:
                self.input.seek(int(max(Fraction(0), origin - 1) * av.time_base), backward=True)
            except av.FFmpegError as ex:  # a damaged index: read from the start, the trim drops what precedes
                log.debug("cannot seek the sound of %s (%s): reading it from the start", self.input.name, ex)
        self._packets = self.input.demux(*self.streams)

    def advance(self, until: Fraction | None) -> None:
        """Mux copied packets up to source time ``until`` (all remaining when None)."""
        if self._done or self._packets is None:
            return
        while True:
            try:
                packet = self._pending or next(self._packets, None)
            except av.FFmpegError as ex:  # the file breaks off: the sound up to here is kept
                log.warning("%s: the sound cannot be read on (%s); the rest of it is left out",
                            Path(self.input.name).name, ffmpeg_reason(ex))
                packet = None
            self._pending = None
            if packet is None:
                self._done = True
                return
            if packet.dts is None and packet.pts is None:
                continue  # the demuxer's end-of-stream marker
            stamp = packet.pts if packet.pts is not None else packet.dts
            tb = Fraction(packet.time_base)
            t = stamp * tb
            if until is not None and t > until:
                self._pending = packet
                return
            if self.trim and t < self.origin:
                continue
            if packet.duration and (stamp + packet.duration) * tb <= self.origin:
                # Wholly before the first frame (an AAC priming packet, say): Matroska and
                # others would shift every stream to make room for it, video included.
                continue
            self._mux(packet)

    def finish(self, end: Fraction | None) -> None:
        """Mux what is left, up to ``end`` when trimming, and flush audio encoders."""
        trimming = self.trim and end is not None
        # Packets that start at or after ``end`` are dropped: stop just before it.
        self.advance(end - Fraction(1, 10**9) if trimming else None)
        self._done = True
        for index in self.reencoded:
            for out_packet in self.pairs[index][1].encode(None):
                self.out.mux(out_packet)
        self.input.close()
        if self.refused:
            log.warning("%s: %d damaged sound packet(s) could not be copied and were left out (%s)",
                        Path(self.input.name).name, self.refused, self._refusal)

    def _mux(self, packet: av.Packet) -> None:
        """Copy one packet; a packet of a damaged source that libav refuses is left out and counted."""
        try:
            self._copy(packet)
        except av.FFmpegError as ex:
            self.refused += 1
            self._refusal = self._refusal or ffmpeg_reason(ex)

    def _copy(self, packet: av.Packet) -> None:
        src_stream, dst_stream = self.pairs[packet.stream.index]
        shift = int(round(self.origin / Fraction(packet.time_base)))
        if packet.stream.index in self.reencoded:
            for frame in src_stream.codec_context.decode(packet):
                frame.pts = None if frame.pts is None else frame.pts - shift
                for out_packet in dst_stream.encode(frame):
                    self.out.mux(out_packet)
            return
        if packet.pts is not None:
            packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
        packet.stream = dst_stream
        self.out.mux(packet)

    def close(self) -> None:
        """Release the source file (after a failure; :meth:`finish` closes it otherwise)."""
        try:
            self.input.close()
        except Exception:
            pass
