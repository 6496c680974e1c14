"""Console: chat pages (being built)."""
