"""Console pages, one module per area; importing a module registers its routes with NiceGUI."""
