"""``python -m aigc.cli``: the same command as the ``aigc`` script."""

from aigc.cli import app

app()
