"""Text generation backends, one file per family."""
