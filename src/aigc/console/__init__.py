"""Console: the web front end (NiceGUI mounted at / in the same app); see docs/console.md."""
