"""Batches of films: discovery, the manifest, segments and the batch runner."""
