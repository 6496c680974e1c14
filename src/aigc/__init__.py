"""aigc: a self-hosted AIGC platform behind one governed, OpenAI-compatible front door."""

__version__ = "0.1.0"
