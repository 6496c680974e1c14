"""Models: the registry, the protocols every backend speaks, and one file per model family."""
