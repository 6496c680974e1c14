"""Console: the web front end. For now the first-run setup page; the full console grows here."""
