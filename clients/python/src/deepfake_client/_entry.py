"""Entry point of the ``deepfake`` command.

Kept apart from :mod:`deepfake_client.cli`, which needs typer and rich at import: without
the ``cli`` extra the command then says what to install instead of failing in an import.
"""

from __future__ import annotations

import sys

#: Top-level packages of the ``cli`` extra.
_CLI_EXTRA = frozenset({"typer", "rich"})

#: The command's status for a usage error (``cli.EXIT_ERROR``, not importable from here).
_EXIT_ERROR = 2


def main() -> None:
    """Run the ``deepfake`` command, or exit 2 with one line that names the missing extra."""
    try:
        from .cli import app
    except ModuleNotFoundError as exc:
        # Only the extra's own packages: any other missing module is a real bug to show.
        if (exc.name or "").partition(".")[0] not in _CLI_EXTRA:
            raise
        sys.stderr.write(
            f"deepfake: the command needs typer and rich ({exc.name} is not installed): "
            "pip install 'deepfake-client[cli]'\n"
        )
        raise SystemExit(_EXIT_ERROR) from None
    app()
