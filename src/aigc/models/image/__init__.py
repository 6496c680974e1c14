"""Image families (GAN, VAE) with their data, sampling, quality and provenance.

A regular package (not a namespace one) so that import-linter, which walks regular packages
only, checks its imports too.
"""
