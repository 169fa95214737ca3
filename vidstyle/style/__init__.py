"""Artistic styles: exemplars made here, style features and distances, trained style models."""
