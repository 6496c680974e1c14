"""Console: models pages (being built)."""
