"""Console: knowledge pages (being built)."""
