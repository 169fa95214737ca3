"""The YUV <-> RGB matrix and range used on both sides of the network.

The reader converts to RGB and the writer back to YUV with the same matrix and
range, and the writer tags the output with the input's tags, so a remaster keeps
the colours of its source. Untagged video is taken as BT.709 from 720 lines up
and BT.601 below, the convention players follow.
"""

from __future__ import annotations

# libav colour matrix (AVCOL_SPC_*) -> swscale colourspace accepted by PyAV's reformat.
_SWS_BY_AVCOL = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
_AVCOL_BY_SWS = {1: 1, 4: 4, 5: 6, 7: 7, 9: 9}
_BT709, _BT601 = 1, 5
#: libav's matrix tag of RGB pictures (DPX, TIFF, PNG frames): no matrix.
AVCOL_RGB = 0


def sws_colorspace(avcol_matrix: int, height: int) -> int:
    """The swscale colourspace for a libav matrix tag, guessed from height when untagged."""
    if avcol_matrix in _SWS_BY_AVCOL:
        return _SWS_BY_AVCOL[avcol_matrix]
    return _BT709 if height >= 720 else _BT601


def sws_range(avcol_range: int) -> int:
    """swscale range: 2 (full, "JPEG") when tagged full, else 1 (limited, "MPEG")."""
    return 2 if avcol_range == 2 else 1


def avcol_matrix(sws: int) -> int:
    """The libav matrix tag of a swscale colourspace (BT.601 as SMPTE 170M, as libav tags it)."""
    return _AVCOL_BY_SWS.get(sws, 2)
