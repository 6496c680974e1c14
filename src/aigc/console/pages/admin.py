"""Console: admin pages (being built)."""
