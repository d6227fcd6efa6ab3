"""The data engine: pages -> structured annotations (detector events, background, artifacts, cleaning)."""
