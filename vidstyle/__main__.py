"""``python -m vidstyle``."""

from .cli import main

main()
