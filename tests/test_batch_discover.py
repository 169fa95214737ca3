"""Discovery of a batch: real folders of (empty) files, since discovery never opens one."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidstyle.batch.discover import DEFAULT_NAME, VIDEO_EXTENSIONS, discover
from vidstyle.errors import ConfigError, InputError, OutputError, VidstyleError


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


@pytest.fixture()
def films(tmp_path: Path) -> Path:
    root = tmp_path / "films"
    touch(
        root,
        "b.mov",
        "a.MP4",
        "notes.txt",
        "1950/reel_1.mkv",
        "1950/scan/reel_2.avi",
        ".hidden.mov",
        ".cache/c.mov",
    )
    return root


class TestFolder:
    def test_walks_and_mirrors(self, films, tmp_path):
        out = tmp_path / "out"
        found = discover(films, out)
        assert [job.name for job in found.jobs] == [
            "1950/reel_1.mkv", "1950/scan/reel_2.avi", "a.MP4", "b.mov",
        ]
        job = found.jobs[1]
        assert job.input == films / "1950/scan/reel_2.avi" and job.input.is_absolute()
        assert job.output == out / "1950/scan/reel_2.mkv"
        assert found.skipped == [films / "notes.txt"]
        assert found.excluded is None

    def test_hidden_files_and_folders_skipped(self, films, tmp_path):
        found = discover(films, tmp_path / "out")
        seen = [job.input for job in found.jobs] + found.skipped
        assert not any(part.startswith(".") for path in seen for part in path.relative_to(films).parts)

    def test_glob(self, films, tmp_path):
        found = discover(films, tmp_path / "out", glob="1950/*.MKV")
        assert [job.name for job in found.jobs] == ["1950/reel_1.mkv"]
        assert films / "b.mov" in found.skipped
        # A glob on the file name alone matches at any depth; it replaces the extension filter.
        found = discover(films, tmp_path / "out", glob="*.txt", name="{stem}.mp4")
        assert [job.name for job in found.jobs] == ["notes.txt"]

    def test_output_inside_source_is_excluded(self, films):
        out = films / "remastered"
        touch(out, "b.mkv", "1950/reel_1.mkv")
        found = discover(films, out)
        assert found.excluded == out
        assert all(not job.input.is_relative_to(out) for job in found.jobs)
        assert len(found.jobs) == 4

    def test_name_template_fields(self, films, tmp_path):
        found = discover(films, tmp_path / "out", name="{parent}_{stem}{ext}.mkv")
        outputs = {job.name: job.output.name for job in found.jobs}
        assert outputs["1950/scan/reel_2.avi"] == "scan_reel_2.avi.mkv"
        assert outputs["b.mov"] == "_b.mov.mkv"
        found = discover(films, tmp_path / "out", name="{name}.mp4")
        assert found.jobs[0].output.name == "reel_1.mkv.mp4"

    def test_deterministic(self, films, tmp_path):
        assert discover(films, tmp_path / "out") == discover(films, tmp_path / "out")


class TestListFile:
    def test_comments_blank_relative_absolute(self, films, tmp_path):
        elsewhere = tmp_path / "elsewhere" / "z.mov"
        listing = films / "todo.txt"
        listing.write_text(
            "# tonight's reels\n\n  b.mov  \n1950/reel_1.mkv\n"
            f"{elsewhere}\nmissing.mov\nb.mov\n",
            encoding="utf-8",
        )
        out = tmp_path / "out"
        found = discover(listing, out)
        assert [job.name for job in found.jobs] == ["1950/reel_1.mkv", "b.mov", "missing.mov", "z.mov"]
        by_name = {job.name: job for job in found.jobs}
        assert by_name["1950/reel_1.mkv"].output == out / "1950/reel_1.mkv"
        # Outside the list's folder: the file name, at the top of the output folder.
        assert by_name["z.mov"].input == elsewhere and by_name["z.mov"].output == out / "z.mkv"
        # A listed file that is missing is still a job; the runner fails it alone.
        assert not by_name["missing.mov"].input.exists()
        assert found.skipped == []

    def test_single_video(self, films, tmp_path):
        found = discover(films / "1950/reel_1.mkv", tmp_path / "out")
        assert [(job.name, job.output) for job in found.jobs] == [("reel_1.mkv", tmp_path / "out/reel_1.mkv")]

    def test_binary_list_refused(self, tmp_path):
        listing = tmp_path / "reels.bin"
        listing.write_bytes(b"\x00\x01\xff\xfe reel")
        with pytest.raises(InputError, match="neither a video .* nor a text list"):
            discover(listing, tmp_path / "out")
        listing.write_bytes(b"\xff\xfe\xfa not utf-8")
        with pytest.raises(InputError, match="text list"):
            discover(listing, tmp_path / "out")

    def test_empty_list_refused(self, tmp_path):
        listing = tmp_path / "reels.txt"
        listing.write_text("# nothing yet\n\n")
        with pytest.raises(InputError, match="names no video"):
            discover(listing, tmp_path / "out")

    def test_glob_needs_a_folder(self, films, tmp_path):
        with pytest.raises(ConfigError, match="--glob"):
            discover(films / "b.mov", tmp_path / "out", glob="*.mov")


class TestRefusals:
    def test_missing_source(self, tmp_path):
        with pytest.raises(InputError, match="does not exist"):
            discover(tmp_path / "nope", tmp_path / "out")

    def test_empty_folder(self, tmp_path):
        (tmp_path / "empty").mkdir()
        with pytest.raises(InputError, match=r"no video .*\.mov.*\(0 other files skipped\)"):
            discover(tmp_path / "empty", tmp_path / "out")

    def test_only_other_files(self, tmp_path):
        touch(tmp_path / "docs", "a.txt", "b.jpg", "sub/c.wav")
        with pytest.raises(InputError, match=r"\(3 other files skipped\)"):
            discover(tmp_path / "docs", tmp_path / "out")
        with pytest.raises(InputError, match="matches --glob"):
            discover(tmp_path / "docs", tmp_path / "out", glob="*.mov")

    def test_output_is_source(self, films):
        with pytest.raises(OutputError, match="is the source folder"):
            discover(films, films / ".")

    def test_output_over_an_input(self, tmp_path):
        touch(tmp_path / "films", "sub/a.mkv", "sub/sub/a.mkv")
        # Mirrored one level up, sub/sub/a.mkv would be written over sub/a.mkv.
        with pytest.raises(OutputError, match="would overwrite the input"):
            discover(tmp_path / "films/sub", tmp_path / "films")

    def test_clash(self, tmp_path):
        touch(tmp_path / "films", "a.mov", "a.mp4", "b.mov")
        with pytest.raises(ConfigError, match=r"a\.mov and .*a\.mp4 would both be written to .*a\.mkv.*--name"):
            discover(tmp_path / "films", tmp_path / "out")
        found = discover(tmp_path / "films", tmp_path / "out", name="{stem}{ext}.mkv")
        assert len(found.jobs) == 3

    def test_clash_ignores_case(self, tmp_path):
        touch(tmp_path / "films", "Reel.mov", "reel.avi")
        with pytest.raises(ConfigError, match="ignoring case"):
            discover(tmp_path / "films", tmp_path / "out")

    @pytest.mark.parametrize(
        "template, message",
        [
            ("{title}.mkv", "unknown field {title}"),
            ("{stem}", "does not end in a video extension"),
            ("{stem}.txt", "does not end in a video extension"),
            ("{parent}/{stem}.mkv", "a file name, not a path"),
            ("{stem.upper}.mkv", r"unknown field {stem\.upper}"),
            ("{0}.mkv", "unknown field {0}"),
            ("{stem:{ext}}.mkv", "unknown field {ext}|not a template"),
            ("{stem.mkv", "not a template"),
        ],
    )
    def test_bad_template(self, films, tmp_path, template, message):
        with pytest.raises(ConfigError, match=message) as info:
            discover(films, tmp_path / "out", name=template)
        assert "{stem}, {ext}, {name}, {parent}" in str(info.value) or "path" in message
        assert "\n" not in str(info.value)

    def test_errors_are_vidstyle_errors(self, tmp_path):
        with pytest.raises(VidstyleError):
            discover(tmp_path / "nope", tmp_path / "out")


def test_constants():
    assert DEFAULT_NAME == "{stem}.mkv"
    assert all(ext.startswith(".") and ext == ext.lower() for ext in VIDEO_EXTENSIONS)
    assert {".mov", ".mkv", ".mp4", ".dv", ".vob", ".mxf"} <= VIDEO_EXTENSIONS
