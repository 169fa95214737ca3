"""``python -m pipelines.benchmark --merge``: the merge of a run's sections into the earlier report, and
the refusals. Nothing here measures anything: the reports are made by hand."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from pipelines.benchmark import cli
from pipelines.benchmark import report as reports
from pipelines.benchmark import styles as styles_section
from pipelines.benchmark.sections import SECTIONS


def sibling(name: str):
    """``tests/NAME.py`` (its hand-made reports), whatever import mode pytest runs in."""
    module_name = f"vidstyle_tests_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, Path(__file__).with_name(
            f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


MACHINE = {
    "date": "2026-11-29T20:59:08+00:00", "cpu_model": "AMD EPYC", "cpu_count": 2,
    "cores_available": 2, "torch_threads": 2, "opencv_threads": 2, "python": "3.11.7",
    "platform": "Linux", "vidstyle": "0.1.0", "torch": "2.14.1", "av": "18.1.0",
    "ffmpeg": "8.1.2", "libav": {"libavcodec": "62.28.102"}, "opencv": "5.0.0",
    "numpy": "2.4.6",
}


def full_report(*, sections=("temporal", "batch", "styles"), date=MACHINE["date"],
                command="python pipelines/benchmark.py", styles=None, **machine):
    """A report of ``sections`` as run_benchmark returns it, made from the sections' test
    reports; ``styles`` changes pencil of the styles section (see test_benchmark_styles)."""
    parts = {"temporal": sibling("test_benchmark_temporal").report(),
             "batch": sibling("test_benchmark_batch").report(),
             "styles": sibling("test_benchmark_styles").report(**(styles or {}))}
    rep = {"command": command, "sections": list(sections),
           "plan": {"quick": False}, "machine": {**MACHINE, "date": date, **machine},
           "section_seconds": {s: 60.0 * (i + 1) for i, s in enumerate(sections)}}
    for s in sections:
        rep.update({k: v for k, v in parts[s].items() if k not in ("machine", "plan")})
    rep["targets"] = reports.targets(rep)
    rep.update(wall_seconds=sum(rep["section_seconds"].values()), other_load_cores=0.05)
    return json.loads(json.dumps(rep))  # as the JSON file holds it


@pytest.fixture
def earlier():
    """The full report of 29 November, pencil's style distance failing its target."""
    return full_report(styles={"dist_out": 0.5})


@pytest.fixture
def now():
    """This run: the styles alone, every target passing, a day later."""
    return full_report(sections=("styles",), date="2026-11-30T08:00:00+00:00",
                       command="python pipelines/benchmark.py --sections styles --merge")


class TestMergeReports:
    def test_carried_sections_identical_measured_replaced(self, earlier, now):
        kept = copy.deepcopy(earlier)
        merged = reports.merge_reports(earlier, now, ("styles",))
        assert earlier == kept  # not changed in place
        for key in ("temporal", "batch", "learned"):
            assert merged[key] == earlier[key]
        assert merged["styles"] == now["styles"] != earlier["styles"]
        assert merged["sections"] == ["temporal", "batch", "styles"]
        assert merged["measured_sections"] == ["styles"]
        for key in ("command", "plan", "machine", "wall_seconds", "other_load_cores"):
            assert merged[key] == now[key]
        assert merged["section_seconds"] == {"temporal": 60.0, "batch": 120.0, "styles": 60.0}
        assert list(merged)[:6] == ["command", "sections", "measured_sections", "merged_from",
                                    "plan", "machine"]
        assert json.loads(json.dumps(merged)) == merged

    def test_targets_recomputed_over_all_sections(self, earlier, now):
        style_distance = [t for t in earlier["targets"] if "style distance" in t["name"]]
        assert [t["status"] for t in style_distance] == ["FAIL"]
        merged = reports.merge_reports(earlier, now, ("styles",))
        assert merged["targets"] == reports.targets(merged)
        names = [t["name"] for t in merged["targets"]]
        assert names == [t["name"] for t in earlier["targets"]]  # temporal, batch, styles
        assert len(names) == 3 + 2 + 7  # the styles: distance, warping, speed and the picture measures
        distance = [t for t in merged["targets"] if "style distance" in t["name"]]
        assert [t["status"] for t in distance] == ["PASS"]

    def test_merged_from(self, earlier, now):
        origin = reports.merge_reports(earlier, now, ("styles",))["merged_from"]
        assert origin == {"sections": ["temporal", "batch"],
                          "command": "python pipelines/benchmark.py",
                          "date": "2026-11-29T20:59:08+00:00", "wall_seconds": 360.0,
                          "other_load_cores": 0.05}  # same machine, same weights: not repeated

    def test_another_machine_is_noted(self, earlier, now):
        earlier["machine"]["cpu_model"] = "Intel Xeon"
        merged = reports.merge_reports(earlier, now, ("styles",))
        assert merged["machine"] == now["machine"]
        assert merged["merged_from"]["machine"] == earlier["machine"]
        assert "another machine or software versions" in reports.merge_sentence(merged)

    def test_other_weights_are_noted(self, earlier, now):
        now["learned"] = copy.deepcopy(earlier["learned"])
        now["learned"]["2"]["sha256"] = "1" * 64
        merged = reports.merge_reports(earlier, now, ("styles",))
        assert merged["learned"] == now["learned"]
        assert merged["merged_from"]["learned"] == earlier["learned"]
        assert "other weights" in reports.merge_sentence(merged)

    def test_markdown_says_what_was_merged(self, earlier, now):
        md = reports.render_markdown(reports.merge_reports(earlier, now, ("styles",)))
        sentence = ("Merged report: sections styles measured in this run (the command above); "
                    "temporal, batch carried over from the run of 2026-11-29T20:59:08+00:00, "
                    "6.0 min wall (command `python pipelines/benchmark.py`).")
        assert sentence in md
        assert md.index(sentence) < md.index("## Targets")
        assert "Run on 2026-11-30T08:00:00+00:00" in md
        assert "## Temporal" in md and "## Styles" in md
        assert "Merged report" not in reports.render_markdown(earlier)

    def test_merge_of_a_merge(self, earlier, now):
        first = reports.merge_reports(earlier, now, ("styles",))
        batch = full_report(sections=("batch",), date="2026-12-01T09:00:00+00:00",
                            command="python pipelines/benchmark.py --sections batch --merge")
        second = reports.merge_reports(first, batch, ("batch",))
        assert second["merged_from"]["sections"] == ["temporal", "styles"]
        assert second["merged_from"]["merged_from"] == first["merged_from"]
        assert second["temporal"] == earlier["temporal"] and second["styles"] == now["styles"]
        sentence = reports.merge_sentence(second)
        assert sentence.startswith("Merged report: sections batch measured in this run")
        # Each carried section is named with the run that measured it, not with the chain of merges.
        assert ("styles carried over from the run of 2026-11-30T08:00:00+00:00" in sentence)
        assert ("; temporal from the run of 2026-11-29T20:59:08+00:00, 6.0 min wall "
                "(command `python pipelines/benchmark.py`).") in sentence
        assert "which had itself" not in sentence

    def test_every_section_measured(self, earlier):
        now = full_report(date="2026-11-30T08:00:00+00:00")
        merged = reports.merge_reports(earlier, now, SECTIONS)
        assert merged["merged_from"]["sections"] == []
        assert all(merged[k] == now[k] for k in ("temporal", "batch", "styles"))
        assert "nothing carried over" in reports.merge_sentence(merged)


class TestMain:
    @pytest.fixture
    def no_run(self, monkeypatch):
        """Measuring anything fails the test."""
        def boom(*args, **kwargs):
            pytest.fail("run_benchmark started before --merge was refused")
        monkeypatch.setattr(cli, "run_benchmark", boom)
        monkeypatch.setattr(styles_section, "load_styles", boom)

    def refused(self, capsys, argv: list[str]) -> str:
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if "error:" in line]
        assert len(errors) == 1 and "Traceback" not in err
        return errors[0]

    def test_with_quick(self, capsys, tmp_path, no_run):
        line = self.refused(capsys, ["--merge", "--quick", "--json",
                                            str(tmp_path / "b.json")])
        assert "--merge takes no --quick" in line

    def test_no_report(self, capsys, tmp_path, no_run):
        path = tmp_path / "b.json"
        line = self.refused(capsys, ["--merge", "--sections", "styles", "--json",
                                            str(path), "--out", str(tmp_path / "b.md")])
        assert f"{path} does not exist" in line
        assert not path.exists() and not (tmp_path / "b.md").exists()

    @pytest.mark.parametrize(("text", "says"), [
        ('{"command": "python pipelines/benchmark.py", ', "is not valid JSON"),
        ("[]", "is not a benchmark report"),
        ('{"command": "x", "machine": {}}', "is not a benchmark report"),
    ])
    def test_bad_report(self, capsys, tmp_path, no_run, text, says):
        path = tmp_path / "b.json"
        path.write_text(text)
        line = self.refused(capsys, ["--merge", "--sections", "styles", "--json",
                                            str(path)])
        assert says in line and str(path) in line
        assert path.read_text() == text

    def test_quick_report(self, capsys, tmp_path, no_run, earlier):
        earlier["plan"]["quick"] = True
        path = tmp_path / "b.json"
        path.write_text(json.dumps(earlier))
        line = self.refused(capsys, ["--merge", "--sections", "styles", "--json",
                                            str(path)])
        assert "is a quick smoke run" in line

    def test_writes_the_merged_report(self, capsys, tmp_path, monkeypatch, earlier, now):
        calls = []

        def run(plan, command, **kwargs):
            calls.append((plan.sections, plan.quick, command))
            return copy.deepcopy(now)
        monkeypatch.setattr(cli, "run_benchmark", run)
        json_path, md_path = tmp_path / "b.json", tmp_path / "b.md"
        json_path.write_text(json.dumps(earlier))
        assert cli.main(["--merge", "--sections", "styles", "--json", str(json_path),
                           "--out", str(md_path)]) == 0
        assert calls == [(("styles",), False, "python -m pipelines.benchmark --merge --sections "
                          f"styles --json {json_path} --out {md_path}")]
        written = json.loads(json_path.read_text())
        assert written == reports.merge_reports(earlier, now, ("styles",))
        assert "Merged report: sections styles measured in this run" in md_path.read_text()
        out = capsys.readouterr().out
        assert "(styles 60 s)" in out and "Merged report" in out
