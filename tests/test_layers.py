"""Imports point one way (docs/architecture.md, "Layers"): the contracts hold, and importing the
lower packages really leaves the HTTP layer and the console unloaded.

Two checks of one rule: import-linter reads the source (every import, also inside functions and
under TYPE_CHECKING), the subprocess imports the modules and looks at what Python loaded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "aigc"
LOWER = ("aigc.models", "aigc.guard", "aigc.knowledge", "aigc.infra")
ABOVE = ("aigc.gateway", "aigc.console", "aigc.cli", "aigc.app")
STILL_ABOVE: set[str] = set()  # modules exempt from the probe (none: keep it that way)


def test_import_contracts_hold(capsys: pytest.CaptureFixture[str]) -> None:
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert code == 0, f"an import contract is broken (pyproject.toml):\n{report}"


def test_every_source_folder_is_a_package() -> None:
    """import-linter walks regular packages only: a folder without __init__.py goes unchecked."""
    folders = {path.parent for path in SRC.rglob("*.py")}
    unchecked = sorted(
        str(folder.relative_to(SRC))
        for folder in folders
        if not (folder / "__init__.py").exists() and "migrations" not in folder.parts
    )
    assert unchecked == [], f"add an __init__.py so the import contracts see: {unchecked}"


_PROBE = """
import importlib, pkgutil, sys
lower, above, skip = {lower!r}, {above!r}, {skip!r}
names = []
for package in lower:
    module = importlib.import_module(package)
    names.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if info.name not in skip:
            names.append(info.name)
for name in names:
    importlib.import_module(name)
    loaded = sorted(m for m in sys.modules if m.startswith(above))
    if loaded:
        print(f"{{name}} loaded {{loaded}}")
        sys.exit(1)
print(len(names))
"""


def test_lower_packages_do_not_load_the_http_layer() -> None:
    """Import every module of models, guard, knowledge and infra; none may load gateway etc."""
    probe = _PROBE.format(lower=LOWER, above=ABOVE, skip=STILL_ABOVE)
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    files = [
        path
        for package in LOWER
        for path in (SRC / package.removeprefix("aigc.")).rglob("*.py")
        if "migrations" not in path.parts
    ]
    assert int(done.stdout.split()[-1]) == len(files) - len(STILL_ABOVE)  # every module walked
