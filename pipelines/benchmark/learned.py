"""The learned models the benchmark measures: remaster-x2 and remaster-x4, shipped or given.

A learned model whose weights file is not there yet is reported as *not shipped* rather than
failing; ``--weights-x2`` / ``--weights-x4`` measure another file instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.benchmark.library import ModelDescriptor, load_model, load_weights, shipped_weights

log = logging.getLogger("benchmark")

#: The shipped learned models, by scale.
LEARNED = {2: "remaster-x2", 4: "remaster-x4"}


@dataclass
class Learned:
    """A learned model of the benchmark: shipped, or given with --weights-x2 / --weights-x4."""

    name: str  # registry name: remaster-x2, remaster-x4
    scale: int
    path: Path
    origin: str  # "shipped" or the option that named the file
    model: ModelDescriptor
    card: dict[str, Any]

    @property
    def label(self) -> str:
        """The name shown in tables: the registry name when shipped, else the card's name."""
        return self.name if self.origin == "shipped" else str(self.card.get("name", self.path.stem))

    @property
    def model_arg(self) -> str:
        """What ``RemasterConfig(model=...)`` takes: the registry name, or the file given."""
        return self.name if self.origin == "shipped" else str(self.path)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "scale": self.scale,
            "origin": self.origin,
            "path": str(self.path),
            "sha256": self.card.get("sha256"),
            "parameters": sum(p.numel() for p in self.model.module.parameters()),
            "architecture": self.card.get("architecture"),
            "hparams": self.card.get("hparams"),
            "card_held_out": (self.card.get("metrics") or {}).get("held_out"),
        }


def load_learned(overrides: dict[int, Path | None]) -> dict[int, Learned | None]:
    """remaster-x2 / -x4 by scale: the file given for that scale, else the shipped one.

    A shipped file that is not there yet gives None ("not shipped"); a file given on the
    command line must exist and load.
    """
    out: dict[int, Learned | None] = {}
    for scale, name in LEARNED.items():
        given = overrides.get(scale)
        if given is None:
            path, origin = shipped_weights(name), "shipped"
            if not path.is_file():
                log.info("%s: not shipped yet (%s does not exist)", name, path)
                out[scale] = None
                continue
            model = load_model(name, scale=scale)
        else:
            path, origin = given.resolve(), f"--weights-x{scale}"
            if not path.is_file():
                raise SystemExit(f"error: --weights-x{scale}: {given} does not exist")
            model = load_model(str(path), scale=scale)
        _, card = load_weights(path)
        out[scale] = Learned(name, scale, path, origin, model, card)
    return out


def learned_status(report: dict[str, Any], scale: int) -> dict[str, Any] | None:
    return report["learned"].get(str(scale))


def weights_note(learned: dict[str, Any]) -> str:
    """Where the measured weights came from, for target lines that do not use the shipped file."""
    if learned["origin"] == "shipped":
        return ""
    return f" [weights from {learned['origin']} {learned['path']}, not the shipped file]"


def not_shipped(name: str, what: str) -> dict[str, Any]:
    return {"name": what, "passed": None, "status": "not shipped",
            "figures": f"weights/{name}.safetensors does not exist yet"}


def learned_line(report: dict[str, Any], scale: int) -> str:
    """One sentence on the weights measured at ``scale``: shipped, given, or not shipped."""
    name = LEARNED[scale]
    learned = learned_status(report, scale)
    if learned is None:
        return f"**{name}: not shipped** (`weights/{name}.safetensors` does not exist yet)."
    where = ("the shipped `weights/" + Path(learned["path"]).name + "`"
             if learned["origin"] == "shipped"
             else f"`{learned['path']}`, given with `{learned['origin']}` (**not the shipped file**)")
    hp = ", ".join(f"{k} {v}" for k, v in (learned["hparams"] or {}).items())
    return (f"**{learned['label']}**: {where}, {learned['architecture']} ({hp}), "
            f"{learned['parameters']:,} parameters, sha256 `{str(learned['sha256'])[:12]}`.")
