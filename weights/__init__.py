"""Shipped model weights (data only): NAME.safetensors with its NAME.json card.

This folder installs as the ``vidstyle.weights`` package so that ``pip install .``
carries the weights; the model registry reads them with importlib.resources.
"""
