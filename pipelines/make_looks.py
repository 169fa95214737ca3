"""Make the bundled film looks: 3D LUTs (.cube) from models of how the looks were made on film.

Each look is a function of the output colour, computed at the points of a 33^3 grid and
written as a ``.cube`` file into ``vidstyle/finish/looks/`` (``--out`` elsewhere), with its
title, one line saying what it is, and this script's command. ``--check`` reports how far the
trilinear interpolation of each written LUT is from its model, over every 8-bit grey and a
sample of 8-bit colours.

The models work in display light: a video frame's values are taken as BT.1886 gamma 2.4 (ITU-R
BT.1886, 2011) and luminance is BT.709's (ITU-R BT.709-6: 0.2126 R + 0.7152 G + 0.0722 B).
Film is modelled in optical density, D = -log10(transmittance): dyes and silver in a print add
their densities. The dye and toner absorption ratios below are chosen to give the colours the
sources describe, and greys stay grey where the process kept them so; they are illustrative
figures, not measured spectra.

* **two-strip-technicolor**: Technicolor's two-colour processes (1922-1935: Process 2 and the
  dye-transfer Process 3). A beam-splitter camera exposed two negatives, one through a red
  filter and one through a green filter; no blue record was made. The print carried the red
  record's image in a blue-green (cyan) dye and the green record's in a red-orange dye. So
  here: a red record and a green record (with a little of the other channels, as filters and
  emulsions overlap), each printed as a positive (density -log10 of its exposure) in its dye,
  the two dyes' densities added. Flesh and reds come out warm, skies and blues a dark teal, and
  yellows pale, as in the surviving prints. Sources: J. Layton and D. Pierce, *The Dawn of
  Technicolor, 1915-1935* (George Eastman Museum, 2015); R. W. Haines, *Technicolor Movies:
  The History of Dye Transfer Printing* (McFarland, 1993).
* **bleach-bypass**: skipping the bleach when processing a colour print (also called skip
  bleach, or silver retention) leaves the developed silver in the emulsion beside the dyes: a
  neutral black-and-white image over the colour one, with higher contrast, denser blacks,
  harsher highlights and paler colours (as in *Nineteen Eighty-Four*, 1984). Modelled as a
  silver density proportional to the picture's own luminance density (here 0.35 of it), printed
  one exposure lighter so that mid-grey stays mid-grey, colour mixed 35% towards luminance (the
  silver sits in all three layers), and a soft shoulder for the highlights. Source: Kodak,
  *Processing KODAK Motion Picture Films* (publication H-24), the print process ECP-2 and its
  bleach-bypass variations; Kodak, *The Essential Reference Guide for Filmmakers*.
* **sepia-toning**: sulphide (sepia) toning turns the silver of a black-and-white print into
  brown silver sulphide; the highlights, with little silver, stay almost white. The picture's
  luminance becomes a silver density, and the sulphide's density is larger in blue than in red
  (ratios 0.80 : 1.00 : 1.35 for R, G, B). Sources: Eastman Kodak, *Tinting and Toning of
  Eastman Positive Motion Picture Film* (1916; 3rd ed. 1927); P. Read and M.-P. Meyer,
  *Restoration of Motion Picture Film* (Butterworth-Heinemann, 2000).
* **selenium-toning**: selenium toner converts the silver to silver selenide, densest parts
  first: the shadows turn a purple-brown and gain density (a deeper black), the highlights stay
  neutral. The toned share grows with density (a smooth step from D 0.2 to 1.5); toned silver
  absorbs 0.92 : 1.08 : 1.00 and is 12% denser. Sources: A. Adams, *The Print* (New York
  Graphic Society, 1983), on selenium toning; Read and Meyer (2000).
* **faded-print-restore**: colour prints on Eastmancolor stock from the 1950s to the early
  1980s lost their cyan and yellow dyes faster than their magenta in storage, and went pink.
  The restore divides each channel's density by the share of its dye a typical faded print
  kept (cyan 0.55, magenta 0.95, yellow 0.75), which brings the greys back and the contrast up;
  for a print faded that way (on other footage it gives a cold, contrasty picture). Sources: J.
  M. Reilly, *Storage Guide for Color Photographic Materials* (Image Permanence Institute,
  1998), on dye fading; R. Gschwind and F. Frey, "Electronic imaging, a tool for the
  reconstruction of faded color photographs", *Journal of Imaging Science and Technology* 38(6),
  1994, on restoring faded dyes in density.

Run from the repository root::

    python pipelines/make_looks.py --check
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("vidstyle") is None:  # a plain checkout, not installed
    sys.path.insert(0, str(REPO_ROOT))

from vidstyle.finish import CubeLut, Look, read_cube, write_cube  # noqa: E402

#: Grid points per axis: the size Resolve exports by default.
SIZE = 33
#: The densest a print gets (a transmittance of 10^-3).
D_MAX = 3.0
GAMMA = 2.4  # BT.1886
LUMA = np.array([0.2126, 0.7152, 0.0722])  # BT.709

Model = Callable[[np.ndarray], np.ndarray]


def to_light(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb, 0.0, 1.0) ** GAMMA


def to_video(light: np.ndarray) -> np.ndarray:
    return np.clip(light, 0.0, 1.0) ** (1.0 / GAMMA)


def density(light: np.ndarray) -> np.ndarray:
    return -np.log10(np.clip(light, 10.0**-D_MAX, 1.0))


def transmit(d: np.ndarray) -> np.ndarray:
    return 10.0 ** -np.asarray(d)


def luminance(light: np.ndarray) -> np.ndarray:
    return light @ LUMA


def smoothstep(low: float, high: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3 - 2 * t)


# -- the looks ------------------------------------------------------------------------------

#: What each negative of the two-strip camera saw of R, G, B (filters and emulsions overlap).
RED_RECORD = np.array([0.90, 0.10, 0.00])
GREEN_RECORD = np.array([0.10, 0.75, 0.15])
#: Density in R, G, B of a unit of each print dye; each channel's sum is 1, so greys stay grey.
BLUE_GREEN_DYE = np.array([0.95, 0.10, 0.15])
RED_ORANGE_DYE = np.array([0.05, 0.90, 0.85])


def two_strip_technicolor(rgb: np.ndarray) -> np.ndarray:
    light = to_light(rgb)
    cyan = density(light @ RED_RECORD)  # the red record, printed as a positive in blue-green
    orange = density(light @ GREEN_RECORD)  # the green record, printed in red-orange
    d = cyan[..., None] * BLUE_GREEN_DYE + orange[..., None] * RED_ORANGE_DYE
    return to_video(transmit(d))


SILVER = 0.35  # silver density per unit of the picture's own luminance density
BLEACH_DESATURATION = 0.35
SHOULDER = 0.7  # the highlights roll off smoothly from here to 1


def shoulder(light: np.ndarray, start: float = SHOULDER) -> np.ndarray:
    """Identity below ``start``, then a tanh roll-off that reaches 1 only at infinity."""
    over = np.maximum(light - start, 0.0)
    return np.where(light > start, start + (1 - start) * np.tanh(over / (1 - start)), light)


def bleach_bypass(rgb: np.ndarray) -> np.ndarray:
    light = to_light(rgb)
    y = luminance(light)[..., None]
    light = y + (1 - BLEACH_DESATURATION) * (light - y)
    # Silver density SILVER * D(y), printed lighter by SILVER * D(0.18): mid-grey stays put.
    silver = (np.clip(y, 10.0**-D_MAX, 1.0) / 0.18) ** SILVER
    return to_video(shoulder(light * silver))


SULPHIDE = np.array([0.80, 1.00, 1.35])


def sepia_toning(rgb: np.ndarray) -> np.ndarray:
    d = density(luminance(to_light(rgb)))[..., None]
    return to_video(transmit(d * SULPHIDE))


SELENIDE = np.array([0.92, 1.08, 1.00])
SELENIUM_DENSITY_GAIN = 0.12


def selenium_toning(rgb: np.ndarray) -> np.ndarray:
    d = density(luminance(to_light(rgb)))[..., None]
    toned = smoothstep(0.2, 1.5, d)  # the dense parts tone first
    absorption = (1 - toned) + toned * SELENIDE
    return to_video(transmit(d * (1 + SELENIUM_DENSITY_GAIN * toned) * absorption))


#: Share of the cyan, magenta and yellow dye (red, green, blue channel) a faded print kept.
DYE_KEPT = np.array([0.55, 0.95, 0.75])


def faded_print_restore(rgb: np.ndarray) -> np.ndarray:
    d = density(to_light(rgb))
    return to_video(transmit(np.minimum(d / DYE_KEPT, D_MAX)))


@dataclass(frozen=True)
class LookModel:
    name: str
    title: str
    summary: str
    model: Model


LOOKS = [
    LookModel("two-strip-technicolor", "Two-strip Technicolor",
              "Two-strip Technicolor (1922-1935): red and green records printed in red-orange and "
              "blue-green dyes; no blue, skies teal, flesh warm", two_strip_technicolor),
    LookModel("bleach-bypass", "Bleach bypass",
              "Bleach bypass: silver kept beside the dyes; more contrast, dense blacks, pale colour",
              bleach_bypass),
    LookModel("sepia-toning", "Sepia toning",
              "Sepia (sulphide) toning of a black-and-white print: warm brown, highlights near white",
              sepia_toning),
    LookModel("selenium-toning", "Selenium toning",
              "Selenium toning of a black-and-white print: purple-brown shadows, deeper black, "
              "neutral highlights", selenium_toning),
    LookModel("faded-print-restore", "Faded print restore",
              "Faded-print restore: gives back the cyan and yellow dye a pink-faded Eastmancolor "
              "print lost", faded_print_restore),
]


# -- writing and checking ----------------------------------------------------------------------


def grid(size: int) -> np.ndarray:
    """The input colour of every grid point, (N, N, N, 3) indexed [r, g, b], in [0, 1]."""
    axis = np.linspace(0.0, 1.0, size)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)


def make(look: LookModel, size: int, command: str) -> CubeLut:
    table = np.clip(look.model(grid(size)), 0.0, 1.0).astype(np.float32)
    comments = (look.summary, "Made by vidstyle's pipelines/make_looks.py (its docstring cites the colour "
                "science):", command)
    return CubeLut(look.title, table, comments=comments)


def check(look: LookModel, path: Path, samples: int = 200_000) -> dict[str, float]:
    """Levels of 255 between the written LUT (trilinear, 8-bit) and the model, rounded to 8 bits,
    over every grey and ``samples`` random colours: RMS and worst."""
    rng = np.random.default_rng(0)
    greys = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    colours = np.concatenate([greys, rng.integers(0, 256, (samples, 3), dtype=np.uint8)])
    applied = Look(read_cube(path))(colours).astype(np.float64)
    exact = np.rint(np.clip(look.model(colours / 255.0), 0.0, 1.0) * 255.0)
    error = np.abs(applied - exact)
    return {"rms": float(np.sqrt(np.mean(error**2))), "worst": float(error.max())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "vidstyle" / "finish" / "looks",
                        help="the folder to write the .cube files to")
    parser.add_argument("--size", type=int, default=SIZE, help="grid points per axis")
    parser.add_argument("--check", action="store_true",
                        help="report the interpolation error of each LUT against its model")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python pipelines/make_looks.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    for look in LOOKS:
        path = args.out / f"{look.name}.cube"
        write_cube(path, make(look, args.size, command.strip()))
        line = f"wrote {path}"
        if args.check:
            error = check(look, path)
            line += f": {error['rms']:.2f} levels RMS from its model, worst {error['worst']:.0f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
