"""Damage in a source: what failed to decode, what decoded with errors, where a file ends early.

An archive must know which reels are damaged, and a decoder that meets broken data rarely stops:
libav hides the broken blocks (error concealment) and goes on. The reader therefore decodes packet
by packet and tells a :class:`DamageTracker` what it fed the decoder and what came back. It
counts, for the video stream, frames in four kinds:

* **lost**: the packet was refused (``av.error.InvalidDataError`` from ``avcodec_send_packet``)
  or gave no picture: the frame is missing. ``--on-damage conceal`` repeats the previous picture
  in its place, with the lost frame's own timestamp, so the count and timing stay exact.
* **corrupt**: the decoder gave a picture but flagged it (``frame.is_corrupt``: the frame's
  ``decode_error_flags`` or ``AV_FRAME_FLAG_CORRUPT``), or the demuxer flagged its packet
  (``packet.is_corrupt``). Such frames are kept as decoded, in every mode: libav has already
  filled the broken blocks from the neighbouring pictures, and a repeated neighbour would freeze
  the motion where a concealed block keeps it.
* **affected**: decoded after a lost or corrupt frame and before the next keyframe, in decoding
  order: they are predicted from the damaged picture and may carry its errors on (on a corrupted
  H.264 clip they were exactly the frames whose pixels differed from the clean decode). The
  decoder flags only the frame whose data broke, so without this an archive would hear of one
  damaged frame where half a reel is.
* **ended early**: the file stops before the frames its container lists (a truncated copy).
  The frames that decode are kept; the report says after which frame and at what time.

What is not counted: libav's log messages ("error while decoding MB ...") are not read, since
they come from the decoder's own threads through a process-wide callback (off in PyAV by default)
and cannot be told apart between two readers. Broken bits that still parse go unnoticed, as H.264
carries no checksums (200 bytes overwritten inside a large intra frame changed 12 frames of a test
clip without a flag). When damage breaks a Matroska file's structure, its demuxer skips to the next
cluster without a word, so those frames are not counted and later indices run short. Audio and
subtitles are copied, not decoded, and not checked.

Frame indices count the frames of a run from 0 in presentation order, lost frames included: for
a whole file, the file's own frame numbers (``f0`` ...). Lists of indices are written as inclusive
``[first, last]`` ranges, so a reel damaged from frame 65 to its end is one pair.
"""

from __future__ import annotations

import bisect
import heapq
import logging
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import SourceDamageError
from ..timecode import format_seconds

__all__ = [
    "DamageReport",
    "DamageTracker",
    "SourceEnd",
    "StreamDamage",
    "combine_damage",
    "index_ranges",
    "ranges_text",
]

log = logging.getLogger(__name__)


def index_ranges(indices: Iterable[int]) -> list[list[int]]:
    """Sorted indices as inclusive ``[first, last]`` runs: ``[3, 4, 5, 9]`` -> ``[[3, 5], [9, 9]]``."""
    runs: list[list[int]] = []
    for i in sorted(set(indices)):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


def _expand(runs: Iterable[Iterable[int]]) -> list[int]:
    return [i for first, last in runs for i in range(first, last + 1)]


def ranges_text(indices: Iterable[int], most: int = 4) -> str:
    """``"65-131"``, ``"3, 9-12, 40 and 2 more"``: the first ``most`` runs of ``indices``."""
    runs = index_ranges(indices)
    words = [str(a) if a == b else f"{a}-{b}" for a, b in runs[:most]]
    more = f" and {len(runs) - most} more" if len(runs) > most else ""
    return ", ".join(words) + more


@dataclass
class StreamDamage:
    """The damage found in one stream of a run (see the module docstring for the kinds)."""

    index: int
    """The stream's index in the file."""
    kind: str = "video"
    frames: int = 0
    """Frames of the run in this stream, lost ones included."""
    lost: list[int] = field(default_factory=list)
    corrupt: list[int] = field(default_factory=list)
    affected: list[int] = field(default_factory=list)
    concealed: list[int] = field(default_factory=list)
    """Lost frames filled in by repeating a neighbour (``--on-damage conceal``)."""
    decode_errors: int = 0
    """Packets that could not be decoded: refused by the decoder, or cut short at the end of the file."""
    corrupt_packets: int = 0
    """Packets the demuxer flagged as corrupt."""

    @property
    def damaged(self) -> list[int]:
        """Every damaged frame: lost, corrupt or affected, sorted."""
        return sorted(set(self.lost) | set(self.corrupt) | set(self.affected))

    def to_dict(self) -> dict[str, Any]:
        damaged = self.damaged
        return {
            "index": self.index,
            "kind": self.kind,
            "frames": self.frames,
            "damaged_frames": len(damaged),
            "damaged": index_ranges(damaged),
            "lost": index_ranges(self.lost),
            "corrupt": index_ranges(self.corrupt),
            "affected": index_ranges(self.affected),
            "concealed": index_ranges(self.concealed),
            "decode_errors": self.decode_errors,
            "corrupt_packets": self.corrupt_packets,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamDamage:
        return cls(index=int(data["index"]), kind=data.get("kind", "video"), frames=int(data.get("frames", 0)),
                   lost=_expand(data.get("lost", [])), corrupt=_expand(data.get("corrupt", [])),
                   affected=_expand(data.get("affected", [])), concealed=_expand(data.get("concealed", [])),
                   decode_errors=int(data.get("decode_errors", 0)),
                   corrupt_packets=int(data.get("corrupt_packets", 0)))

    def clipped(self, first: int, offset: int) -> StreamDamage:
        """Only frames ``first`` and later, each index moved by ``offset`` (a segment's frames on the
        film's numbering: its warm-up frames are the previous segment's)."""
        def move(indices: list[int]) -> list[int]:
            return [i + offset for i in indices if i >= first]

        return StreamDamage(self.index, self.kind, max(0, self.frames - first), move(self.lost), move(self.corrupt),
                            move(self.affected), move(self.concealed), self.decode_errors, self.corrupt_packets)


@dataclass(frozen=True)
class SourceEnd:
    """Where a file that ends early ends."""

    frames: int
    """Frames read before the end (lost ones included): the last is frame ``frames - 1``."""
    seconds: float
    """Time in the file at which its last frame ends."""
    expected_frames: int | None = None
    """The frame count the container lists, when it lists one."""
    expected_seconds: float | None = None
    """The video track's duration the container states, when it states one."""
    reason: str | None = None
    """libav's words when reading broke off with an error."""

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "last_frame": self.frames - 1, "seconds": round(self.seconds, 6),
                "expected_frames": self.expected_frames,
                "expected_seconds": None if self.expected_seconds is None else round(self.expected_seconds, 6),
                "reason": self.reason}

    def describe(self) -> str:
        listed = (f"its container lists {self.expected_frames} frames" if self.expected_frames
                  else f"its video track should last {format_seconds(self.expected_seconds)}"
                  if self.expected_seconds else f"reading broke off: {self.reason}")
        return f"ends early, after frame {self.frames - 1} at {format_seconds(self.seconds)} ({listed})"


@dataclass
class DamageReport:
    """What a run found wrong with its source: a :class:`StreamDamage` per stream checked (the
    video stream, the one decoded), and where the file ends if it ends early."""

    source: str
    """The source's file name, for messages."""
    on_damage: str = "warn"
    streams: list[StreamDamage] = field(default_factory=list)
    ended: SourceEnd | None = None

    @property
    def damaged(self) -> bool:
        return self.ended is not None or any(s.damaged for s in self.streams)

    @property
    def lost(self) -> int:
        """Frames missing from the output: lost and not concealed."""
        return sum(len(set(s.lost) - set(s.concealed)) for s in self.streams)

    @property
    def damaged_frames(self) -> int:
        return sum(len(s.damaged) for s in self.streams)

    def to_dict(self) -> dict[str, Any]:
        return {"damaged": self.damaged, "damaged_frames": self.damaged_frames, "on_damage": self.on_damage,
                "streams": [s.to_dict() for s in self.streams],
                "ended_early": None if self.ended is None else self.ended.to_dict()}

    def warnings(self) -> list[str]:
        """One line per stream with damage, and one for an early end; none for a sound source."""
        lines = []
        for s in self.streams:
            damaged = s.damaged
            if not damaged:
                continue
            kinds = []
            if s.lost:
                fate = "repeated from a neighbour" if s.concealed else "left out"
                kinds.append(f"{len(s.lost)} failed to decode ({fate})")
            if s.corrupt:
                kinds.append(f"{len(s.corrupt)} decoded with errors")
            if s.affected:
                kinds.append(f"{len(s.affected)} predicted from a damaged frame")
            lines.append(f"{self.source} is damaged: {len(damaged)} of {s.frames} frames of {s.kind} stream "
                         f"#{s.index} (frames {ranges_text(damaged)}): {', '.join(kinds)}")
        if self.ended is not None:
            lines.append(f"{self.source} {self.ended.describe()}")
        return lines

    def brief(self) -> str:
        """A few words for a table: ``"67 damaged frames (65-131)"``, ``"ends early after frame 37"``."""
        words = []
        damaged = sorted({i for s in self.streams for i in s.damaged})
        if damaged:
            words.append(f"{len(damaged)} damaged frame{'s' if len(damaged) != 1 else ''} ({ranges_text(damaged, 2)})")
        if self.lost:
            words.append(f"{self.lost} left out")
        if self.ended is not None:
            words.append(f"ends early after frame {self.ended.frames - 1}")
        return ", ".join(words)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "") -> DamageReport:
        ended = data.get("ended_early")
        if ended is not None:
            ended = SourceEnd(frames=int(ended["frames"]), seconds=float(ended["seconds"]),
                              expected_frames=ended.get("expected_frames"),
                              expected_seconds=ended.get("expected_seconds"), reason=ended.get("reason"))
        return cls(source=source, on_damage=data.get("on_damage", "warn"),
                   streams=[StreamDamage.from_dict(s) for s in data.get("streams", [])], ended=ended)


def combine_damage(parts: list[dict[str, Any] | None], source: str = "", *,
                   frames: int | None = None) -> DamageReport | None:
    """One film's damage from its segments' reports (each already on the film's numbering, as
    :meth:`StreamDamage.clipped` leaves them), in order; None when no part has a report.
    ``frames``: the film's frame count (sound segments have no report to count theirs)."""
    known = [DamageReport.from_dict(p, source) for p in parts if p]
    if not known:
        return None
    streams: dict[int, StreamDamage] = {}
    for part in known:
        for s in part.streams:
            into = streams.setdefault(s.index, StreamDamage(s.index, s.kind))
            into.frames += s.frames
            into.lost += s.lost
            into.corrupt += s.corrupt
            into.affected += s.affected
            into.concealed += s.concealed
            into.decode_errors += s.decode_errors
            into.corrupt_packets += s.corrupt_packets
    if frames is not None:
        for s in streams.values():
            s.frames = frames
    ended = known[-1].ended  # only the last segment reads to the end of the file
    return DamageReport(source, known[0].on_damage, [streams[i] for i in sorted(streams)], ended)


class DamageTracker:
    """Counts the damage of one video stream while the reader decodes it.

    The reader calls :meth:`fed` with every packet it gives the decoder, :meth:`refused` when
    the decoder refuses one, and :meth:`decoded` with each frame it gets back, in the order they
    come (presentation order). A packet whose frame never comes back while a later frame does is
    lost; :meth:`finish` names those lost at the very end. ``in_range(pts)`` says whether a frame
    belongs to the run (the reader's ``--start``/``--end``): only those are counted and indexed,
    and damage before the start is not followed into the run (after a seek, the leading frames of
    an open GOP decode flagged, and would otherwise taint a sound range).

    With ``on_damage="fail"`` the first damaged frame of the run raises
    :class:`~vidstyle.errors.SourceDamageError`.
    """

    def __init__(self, source: str, stream_index: int, *, on_damage: str = "warn",
                 in_range: Callable[[int], bool] = lambda pts: True,
                 seconds: Callable[[int], float] = float) -> None:
        self.source = source
        self.seconds = seconds  # a pts in seconds from the file's start, for messages
        self.stream_index = stream_index
        self.on_damage = on_damage
        self.in_range = in_range
        self.damage = StreamDamage(stream_index)
        self.ended: SourceEnd | None = None
        #: Packets with a discard mark (before an edit list's start): the decoder drops their frames.
        self.discarded = 0
        self._pending: list[int] = []  # pts fed and not yet decoded, a heap
        self._pending_set: set[int] = set()
        self._tracking = True  # False once frames and packets disagree on timestamps
        self._order_pts = array("q")  # every packet fed, in decoding order
        self._order_key = bytearray()
        self._damaged_pts: set[int] = set()  # lost or corrupt frames of the run
        self._indexed = array("q")  # pts of the run's frames, ascending: a frame's index is its position

    # -- what the reader tells ----------------------------------------------------------------
    def fed(self, pts: int | None, *, keyframe: bool, corrupt: bool, discard: bool) -> None:
        """A packet given to the decoder (the end-of-stream marker excluded)."""
        if discard:
            self.discarded += 1
            return
        if pts is None:
            return
        if corrupt and self.in_range(pts):
            self.damage.corrupt_packets += 1
            self._damaged_pts.add(pts)
            self._fail(f"the packet of {self._stream()} at {self._when(pts)} is marked corrupt by the demuxer")
        self._order_pts.append(pts)
        self._order_key.append(1 if keyframe else 0)
        if self._tracking and pts not in self._pending_set:
            heapq.heappush(self._pending, pts)
            self._pending_set.add(pts)

    def refused(self, pts: int | None, reason: str) -> None:
        """A packet could not be decoded: its frame is lost (counted when a later frame comes)."""
        if pts is not None and not self.in_range(pts):
            return
        self.damage.decode_errors += 1
        where = "" if pts is None else f" at {self._when(pts)}"
        self._fail(f"the packet of {self._stream()}{where} could not be decoded ({reason})")

    def decoded(self, pts: int, *, corrupt: bool) -> list[int]:
        """A frame came back. Returns the timestamps of the run's frames lost before it, in order."""
        lost = self._lost_before(pts)
        if self.in_range(pts):
            index = self._index(pts)
            if corrupt:
                self._damaged_pts.add(pts)
                self.damage.corrupt.append(index)
                self._fail(f"frame {index} of {self._stream()} decoded with errors")
        return lost

    def finish(self) -> list[int]:
        """The stream has ended: timestamps of the run's frames fed and never decoded, in order."""
        return self._lost_before(None)

    def concealed(self, pts: int) -> None:
        """The lost frame at ``pts`` was filled in (``--on-damage conceal``)."""
        self.damage.concealed.append(self._index_of(pts))

    def end_early(self, ended: SourceEnd) -> None:
        self.ended = ended
        self._fail(f"it {ended.describe()}")

    def restart(self) -> None:
        """The reader sought back and decodes again from there: forget what was fed."""
        self._pending.clear()
        self._pending_set.clear()
        self._order_pts = array("q")
        self._order_key = bytearray()
        self._damaged_pts.clear()

    @property
    def frames(self) -> int:
        """Frames of the run so far, lost ones included."""
        return len(self._indexed)

    @property
    def last_pts(self) -> int | None:
        """The timestamp of the run's last frame so far, lost ones included; None before any."""
        return self._indexed[-1] if self._indexed else None

    # -- the report ---------------------------------------------------------------------------
    def report(self) -> DamageReport:
        """The damage found; call it once the reader is done."""
        d = self.damage
        damage = StreamDamage(d.index, d.kind, len(self._indexed), list(d.lost), list(d.corrupt), self._affected(),
                              list(d.concealed), d.decode_errors, d.corrupt_packets)
        return DamageReport(self.source, self.on_damage, [damage], self.ended)

    def _affected(self) -> list[int]:
        """Frames decoded after a damaged one and before the next sound keyframe, in decoding order."""
        if not self._damaged_pts:
            return []
        damaged = set(self.damage.lost) | set(self.damage.corrupt)
        affected, tainted = [], False
        for pts, key in zip(self._order_pts, self._order_key):
            if pts in self._damaged_pts:
                tainted = True
            elif key:
                tainted = False
            elif tainted and (index := self._index_of(pts)) is not None and index not in damaged:
                affected.append(index)
        return sorted(affected)

    # -- inside -------------------------------------------------------------------------------
    def _lost_before(self, pts: int | None) -> list[int]:
        if not self._tracking:
            return []
        if pts is not None and pts not in self._pending_set:
            # A frame whose timestamp no packet had (a decoder that makes its own): losses can no
            # longer be told from timestamps, so none are claimed.
            log.debug("%s: a frame at %s matches no packet; lost frames are not counted", self.source, pts)
            self._tracking = False
            self._pending.clear()
            self._pending_set.clear()
            return []
        lost = []
        while self._pending and (pts is None or self._pending[0] <= pts):
            top = heapq.heappop(self._pending)
            self._pending_set.discard(top)
            if top == pts:
                break
            if self.in_range(top):
                self._damaged_pts.add(top)
                index = self._index(top)
                self.damage.lost.append(index)
                lost.append(top)
                self._fail(f"frame {index} of {self._stream()} failed to decode")
        return lost

    def _index(self, pts: int) -> int:
        self._indexed.append(pts)
        return len(self._indexed) - 1

    def _index_of(self, pts: int) -> int | None:
        i = bisect.bisect_left(self._indexed, pts)
        return i if i < len(self._indexed) and self._indexed[i] == pts else None

    def _when(self, pts: int) -> str:
        return format_seconds(self.seconds(pts))

    def _stream(self) -> str:
        return f"video stream #{self.stream_index}"

    def _fail(self, what: str) -> None:
        if self.on_damage == "fail":
            raise SourceDamageError(f"{self.source} is damaged: {what} (--on-damage fail); "
                                    f"--on-damage warn or conceal would go on")
