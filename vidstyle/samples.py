"""The sample clip that ships with vidstyle, for a first run and for demos."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["sample_clip"]


def sample_clip() -> Path:
    """Path of the bundled sample: 5 s of Big Buck Bunny made to look like damaged film, with sound.

    Big Buck Bunny (c) 2008 Blender Foundation, www.bigbuckbunny.org, CC BY 3.0.
    """
    path = Path(str(resources.files("vidstyle.data").joinpath("sample_reel.mp4")))
    if not path.is_file():
        raise FileNotFoundError(f"the sample clip is missing from this installation: {path}")
    return path
