"""Find the films of a batch and the output path of each.

A batch source is a folder (walked recursively, hidden entries left out), a text
file that lists one path per line, or a single video. Outputs mirror the source
tree under the output folder, so ``reels/1950/a.mov`` becomes ``out/1950/a.mkv``
and two reels of one name in different folders never meet.

An image sequence is one film: two or more numbered frames of one name in a folder
(``scans/reel1/reel1_000001.dpx`` ...) are the film ``scans/reel1/reel1_%06d.dpx``, whose
output is ``out/reel1/reel1.mkv`` (``{stem}`` is the text before the number, or the folder's
name). A list file may name a pattern or a folder of frames.

Discovery looks at names only and never opens a file: it stays fast on a network
share, and a listed file that has gone missing becomes one job that fails on its
own rather than a batch that refuses to start. What it does refuse up front is
any plan that would lose work: outputs written over inputs, or two films written
to one output.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import os
import string
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import ConfigError, InputError, OutputError
from ..io.sequence import IMAGE_ENCODERS, is_pattern, pattern_label, sequence_stem, sequences_among
from .manifest import MANIFEST_NAME

__all__ = ["DEFAULT_NAME", "NAME_FIELDS", "VIDEO_EXTENSIONS", "Discovery", "Job", "discover"]

logger = logging.getLogger(__name__)

#: Suffixes (lower case, with the dot) that a folder walk takes for videos.
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".mp4", ".mkv", ".mov", ".avi", ".m4v", ".webm", ".mpg", ".mpeg", ".ts", ".m2ts",
        ".mts", ".mxf", ".wmv", ".flv", ".ogv", ".dv", ".3gp", ".vob",
    }
)
#: Output file name template. Matroska holds every codec and stream we copy across.
DEFAULT_NAME = "{stem}.mkv"
#: The fields of a name template, for ``reels/1950/a.mov``: ``a``, ``.mov``, ``a.mov``, ``1950``.
NAME_FIELDS = ("stem", "ext", "name", "parent")

_FIELDS_TEXT = ", ".join("{" + field + "}" for field in NAME_FIELDS)
_SEPARATORS = {"/", os.sep} | ({os.altsep} if os.altsep else set())


@dataclass(frozen=True)
class Job:
    """One film of a batch and where its remaster goes."""

    #: The film, absolute and resolved (a listed file that does not exist is still a job); an
    #: image sequence as its pattern (``/scans/reel1/reel1_%06d.dpx``).
    input: Path
    #: Where the remaster is written, absolute, under the output folder.
    output: Path
    #: The input relative to the source folder (or the list file's folder), POSIX style,
    #: for display; just the file name for a listed file outside that folder.
    name: str


@dataclass
class Discovery:
    """What a batch source holds."""

    #: The films, sorted by name.
    jobs: list[Job]
    #: Files seen in the walk that are not videos (or do not match ``--glob``), sorted.
    skipped: list[Path]
    #: The output folder when it lies inside the source folder: it is left out of the
    #: walk, so a second run does not take the first run's outputs for new films.
    excluded: Path | None = None
    #: Folders under the source that hold a batch manifest: the output folders of earlier
    #: batches (with another ``-o``), left out for the same reason, sorted.
    earlier_batches: list[Path] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class _Entry:
    path: Path
    #: The path the output mirrors, relative to the output folder's root.
    rel: PurePosixPath
    #: The value of ``{parent}``.
    parent: str


def discover(
    source: Path, output_root: Path, *, glob: str | None = None, name: str = DEFAULT_NAME
) -> Discovery:
    """The jobs of a batch: each film in ``source`` and its output under ``output_root``.

    Args:
        source: a folder to walk, a text file listing one path per line (``#`` starts a
            comment; relative paths are relative to the list's folder), or one video.
        output_root: the folder the outputs go to; it need not exist yet.
        glob: when given, a folder walk takes the files whose relative path or file name
            matches it (``*.mov``, ``reel_*/*.mkv``; case is ignored) instead of those
            with a video extension.
        name: output file name template with the fields of :data:`NAME_FIELDS`.

    Raises:
        InputError: ``source`` is missing, holds no video or is a list file that is not text.
        OutputError: an output would land on an input, or ``output_root`` is the source folder.
        ConfigError: a bad template, ``glob`` given without a source folder, or two films
            that would be written to one output.
    """
    _check_template(name)
    source = Path(source).expanduser()
    if not source.exists():
        raise InputError(f"the batch source {source} does not exist")
    source = source.resolve()
    output_root = Path(output_root).expanduser().resolve()
    if output_root.exists() and not output_root.is_dir():
        raise OutputError(f"the output folder {output_root} is a file; give a folder")
    if glob is not None and not source.is_dir():
        raise ConfigError(f"--glob picks files in a source folder, but {source} is a file")

    excluded = None
    skipped: list[Path] = []
    earlier: list[Path] = []
    if source.is_dir():
        if output_root == source:
            raise OutputError(
                f"the output folder is the source folder {source}: the outputs would land"
                " among the films; give another output folder"
            )
        if output_root.is_relative_to(source):
            excluded = output_root
        entries, skipped, earlier = _walk(source, excluded, glob)
        if not entries:
            raise InputError(_nothing_found(source, glob, len(skipped), earlier))
    elif source.suffix.lower() in VIDEO_EXTENSIONS:
        entries = [_Entry(source, PurePosixPath(source.name), "")]
    else:
        entries = _read_list(source)

    jobs = [
        Job(
            input=entry.path,
            output=output_root / entry.rel.parent / _output_name(name, entry),
            name=entry.rel.as_posix(),
        )
        for entry in entries
    ]
    jobs.sort(key=lambda job: (job.name, str(job.input)))
    _check_outputs(jobs)
    return Discovery(jobs=jobs, skipped=sorted(skipped), excluded=excluded, earlier_batches=sorted(earlier))


def _walk(source: Path, excluded: Path | None, glob: str | None) -> tuple[list[_Entry], list[Path], list[Path]]:
    """The videos and image sequences under ``source``, the other files, and the folders of earlier
    batches left out, in a deterministic order."""

    def unreadable(ex: OSError) -> None:
        # One unreadable folder should not stop a night's batch; say so and go on.
        logger.warning("cannot read %s: %s; its films are left out", ex.filename, ex.strerror)

    videos: list[_Entry] = []
    others: list[Path] = []
    earlier: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(source, onerror=unreadable):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and here / d != excluded
        )
        batches = [d for d in dirnames if (here / d / MANIFEST_NAME).is_file()]
        earlier += [here / d for d in batches]
        dirnames[:] = [d for d in dirnames if d not in batches]
        names = [name for name in sorted(filenames) if not name.startswith(".")]
        framed: set[str] = set()
        frames_here = [name for name in names if _wanted_frame(here / name, source, glob)]
        for pattern, frames in sorted(sequences_among(frames_here).items()):
            if len(frames) < 2:  # one numbered picture is a picture, not a film
                continue
            framed.update(frames)
            rel = PurePosixPath((here / pattern).relative_to(source).as_posix())
            videos.append(_Entry(here / pattern, rel, rel.parent.name))
        for filename in names:
            if filename in framed:
                continue
            path = here / filename
            rel = PurePosixPath(path.relative_to(source).as_posix())
            if _wanted(rel, glob):
                videos.append(_Entry(path, rel, rel.parent.name))
            else:
                others.append(path)
    return videos, others, earlier


def _wanted(rel: PurePosixPath, glob: str | None) -> bool:
    """Whether a walk takes a file: by its extension, or by ``glob`` when one is given.

    Case is ignored in both, as cameras and old Windows tools write ``REEL01.MOV``.
    """
    if glob is None:
        return rel.suffix.lower() in VIDEO_EXTENSIONS
    pattern = glob.lower()
    return fnmatch.fnmatchcase(str(rel).lower(), pattern) or fnmatch.fnmatchcase(
        rel.name.lower(), pattern
    )


def _wanted_frame(path: Path, source: Path, glob: str | None) -> bool:
    """Whether a walk takes a file as a frame of an image sequence: by its extension, or by
    ``glob`` when one is given."""
    if glob is None:
        return path.suffix.lower() in IMAGE_ENCODERS
    return _wanted(PurePosixPath(path.relative_to(source).as_posix()), glob)


def _nothing_found(source: Path, glob: str | None, skipped: int, earlier: list[Path]) -> str:
    others = f"{skipped} other file{'s' if skipped != 1 else ''} skipped"
    if earlier:
        others += f"; {len(earlier)} earlier batch output folder{'s' if len(earlier) != 1 else ''} left out"
    if glob is not None:
        return f"no file in {source} matches --glob {glob!r} ({others})"
    extensions = " ".join(sorted(VIDEO_EXTENSIONS))
    return (
        f"no video in {source}: looked for {extensions}, and image sequences of numbered"
        f" {' '.join(IMAGE_ENCODERS)} frames ({others}); give --glob to pick other files"
    )


def _read_list(path: Path) -> list[_Entry]:
    """The films a list file names, each once, in the order given.

    A listed path inside the list's folder keeps its relative place in the output tree;
    one outside it goes to the top of the output folder under its file name.
    """
    try:
        data = path.read_bytes()
    except OSError as ex:
        raise InputError(f"cannot read the list file {path}: {ex.strerror}") from ex
    not_text = (
        f"{path} is neither a video (by its extension) nor a text list of paths, one per line;"
        f" give a folder, a video or a UTF-8 list"
    )
    if b"\0" in data:
        raise InputError(not_text)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as ex:
        raise InputError(not_text) from ex

    folder = path.parent
    entries: dict[Path, _Entry] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        listed = (folder / Path(line).expanduser()).resolve()
        if listed in entries:
            continue
        if listed.is_relative_to(folder):
            rel = PurePosixPath(listed.relative_to(folder).as_posix())
            entries[listed] = _Entry(listed, rel, rel.parent.name)
        else:
            entries[listed] = _Entry(listed, PurePosixPath(listed.name), listed.parent.name)
    if not entries:
        raise InputError(
            f"the list file {path} names no video (blank lines and # comments are ignored)"
        )
    return list(entries.values())


def _check_template(template: str) -> None:
    """Refuse a template that cannot give a video file name, before any file is looked at.

    Fields are checked by name, as ``str.format`` would take ``{stem.upper}`` or
    ``{stem[0]}`` and quietly write something else.
    """
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as ex:
        raise ConfigError(
            f"--name {template!r} is not a template ({ex}); the fields are {_FIELDS_TEXT}"
        ) from ex
    for field in fields:
        if field not in NAME_FIELDS:
            raise ConfigError(
                f"--name {template!r} has an unknown field {{{field}}};"
                f" the fields are {_FIELDS_TEXT}"
            )
    _output_name(template, _Entry(Path("reel.mov"), PurePosixPath("reels/reel.mov"), "reels"))


def _output_name(template: str, entry: _Entry) -> str:
    """The output file name of one film: the template filled in, and checked.

    The result must be a bare file name ending in a video extension: a template that
    drops the extension or adds a folder is a mistake better caught before the batch.
    """
    rel = entry.rel
    stem, name = rel.stem, rel.name
    if is_pattern(rel):  # an image sequence: no % in the output's name
        stem, name = sequence_stem(Path(rel)), pattern_label(rel.name)
    try:
        result = template.format(stem=stem, ext=rel.suffix, name=name, parent=entry.parent)
    except KeyError as ex:
        raise ConfigError(
            f"--name {template!r} has an unknown field {{{ex.args[0]}}};"
            f" the fields are {_FIELDS_TEXT}"
        ) from ex
    except (ValueError, IndexError, AttributeError) as ex:
        raise ConfigError(
            f"--name {template!r} is not a template ({ex}); the fields are {_FIELDS_TEXT}"
        ) from ex
    if any(sep in result for sep in _SEPARATORS):
        raise ConfigError(
            f"--name {template!r} gives {result!r} for {rel.name}: a file name, not a path"
            " (outputs already mirror the source folders)"
        )
    if PurePosixPath(result).suffix.lower() not in VIDEO_EXTENSIONS:
        raise ConfigError(
            f"--name {template!r} gives {result!r} for {rel.name}, which does not end in"
            f" a video extension such as .mkv; the fields are {_FIELDS_TEXT}"
        )
    return result


def _check_outputs(jobs: list[Job]) -> None:
    """Refuse two films written to one output, or an output written over an input.

    Paths are compared ignoring case: on the case-insensitive file systems of macOS,
    Windows and many NAS shares, ``Reel.mkv`` and ``reel.mkv`` are one file.
    """
    inputs = {str(job.input).casefold() for job in jobs}
    seen: dict[str, Job] = {}
    for job in jobs:
        key = str(job.output).casefold()
        if key in inputs:
            raise OutputError(
                f"the output of {job.name} would overwrite the input {job.output};"
                " give another output folder or --name"
            )
        first = seen.setdefault(key, job)
        if first is not job:
            raise ConfigError(
                f"{first.input} and {job.input} would both be written to {job.output}"
                " (names compared ignoring case); tell them apart with --name,"
                ' e.g. --name "{stem}{ext}.mkv", or rename one'
            )
