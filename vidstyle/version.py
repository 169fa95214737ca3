"""The version of vidstyle, on the ground floor: reports, the manifest and ``--version`` read it here."""

__version__ = "0.1.0"
