"""Console: the web front end (NiceGUI, mounted at / in the same FastAPI app); see docs/console.md."""
