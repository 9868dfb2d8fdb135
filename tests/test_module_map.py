"""Each package's docstring names its modules, and no module grows past 400 lines unsaid."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The production packages' roots; every directory below them with an __init__.py is checked.
ROOTS = [
    "contract",
    "gateway",
    "serving",
    "model_export",
    "stack",
    "bench",
    "clients/python/src/deepfake_client",
]
MAX_LINES = 400
REASON = "Over 400 lines because"


def _packages() -> list[Path]:
    return sorted(init.parent for root in ROOTS for init in (REPO / root).rglob("__init__.py"))


def _members(package: Path) -> list[str]:
    """The names a package's docstring must mention: its modules and subpackages."""
    modules = [p.stem for p in package.glob("*.py") if p.name != "__init__.py"]
    subpackages = [p.name for p in package.iterdir() if (p / "__init__.py").is_file()]
    return sorted(modules + subpackages)


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text())) or ""


def test_every_package_docstring_names_its_modules() -> None:
    offenders = []
    for package in _packages():
        doc = _docstring(package / "__init__.py")
        missing = [m for m in _members(package) if not re.search(rf"(?<!\w){m}(?!\w)", doc)]
        if missing:
            offenders.append(f"{package.relative_to(REPO)}: {', '.join(missing)}")
    assert not offenders, "package docstrings that do not name these modules:\n" + "\n".join(
        offenders
    )


def test_no_module_over_400_lines_without_a_reason() -> None:
    offenders = []
    for package in _packages():
        for path in sorted(package.glob("*.py")):
            lines = len(path.read_text().splitlines())
            if lines <= MAX_LINES:
                continue
            doc = _docstring(path)
            if not any(line.strip().startswith(REASON) for line in doc.splitlines()):
                offenders.append(f"{path.relative_to(REPO)}: {lines} lines")
    assert not offenders, (
        f"modules over {MAX_LINES} lines whose docstring has no line starting with "
        f"{REASON!r}:\n" + "\n".join(offenders)
    )
