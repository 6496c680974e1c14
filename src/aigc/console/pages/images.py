"""Console: images pages (being built)."""
