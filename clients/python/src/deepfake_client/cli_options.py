"""What the ``deepfake`` command's subcommands share: options, the client, errors, progress.

The connection options are declared once here: the app's callback
(:func:`deepfake_client.cli.connection`) takes them before the command name, every command
that calls the gateway takes them after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from . import errors
from ._sync import Client

EXIT_OK, EXIT_FOUND, EXIT_ERROR = 0, 1, 2


def console(stderr: bool = False) -> Console:
    """The terminal (standard error with ``stderr``), without markup guessing or wrapping."""
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


class Verdict(StrEnum):
    """The verdicts ``--fail-on`` may name."""

    real = "real"
    fake = "fake"
    inconclusive = "inconclusive"


class AggregationChoice(StrEnum):
    """The aggregations ``--aggregation`` may name."""

    mean = "mean"
    median = "median"
    topk_mean = "topk_mean"
    confident = "confident"
    max = "max"
    sequence = "sequence"


def fail(message: str) -> NoReturn:
    """Report ``message`` on standard error and exit 2."""
    console(stderr=True).print(f"[red]error:[/red] {message}", markup=True)
    raise typer.Exit(EXIT_ERROR)


def given_after(ctx: typer.Context, name: str) -> bool:
    """Whether the command's own option ``name`` was on the command line (not from its
    environment variable or default)."""
    source = ctx.get_parameter_source(name)
    # By name: typer vendors click and does not export its ParameterSource.
    return source is not None and source.name == "COMMANDLINE"


def open_client(
    ctx: typer.Context, url: str | None, api_key: str | None, ca_cert: Path | None
) -> Client:
    """A client from the connection options given after the command name, each falling back
    to what :func:`deepfake_client.cli.connection` resolved before it (option, else
    environment variable)."""
    after = {"url": url, "api_key": api_key, "ca_cert": ca_cert}
    settings = {k: v if given_after(ctx, k) else ctx.obj[k] for k, v in after.items()}
    try:
        return Client(settings["url"], api_key=settings["api_key"], ca_cert=settings["ca_cert"])
    except (ValueError, OSError) as exc:
        fail(str(exc))


@contextmanager
def errors_exit() -> Iterator[None]:
    """Report an SDK error on standard error and exit 2."""
    try:
        yield
    except errors.DeepfakeError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(str(exc))


_WHERE = " Before or after the command name; given in both places, the one after wins."
UrlOpt = Annotated[
    str | None, typer.Option("--url", envvar="DEEPFAKE_URL", help="Gateway base URL." + _WHERE)
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", envvar="DEEPFAKE_API_KEY", help="API key (Bearer)." + _WHERE),
]
CaCertOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca-cert",
        envvar="DEEPFAKE_CA_CERT",
        help="PEM file of the CA that signed the gateway's certificate." + _WHERE,
    ),
]


def detect_params(
    model_version: int | None,
    model_label: str | None,
    frames: int | None,
    fps: float | None,
    aggregation: AggregationChoice | None,
    operating_point: str | None = None,
) -> dict[str, Any]:
    """The detection parameters of the options, as the SDK's ``detect`` takes them."""
    return {
        "model_version": model_version,
        "model_label": model_label,
        "frames": frames,
        "fps": fps,
        "aggregation": aggregation.value if aggregation else None,
        "operating_point": operating_point,
    }


ModelVersion = Annotated[int | None, typer.Option(help="Ask this model version.")]
ModelLabel = Annotated[str | None, typer.Option(help="Ask the version with this label.")]
Frames = Annotated[int | None, typer.Option(help="Frames to sample.")]
Fps = Annotated[float | None, typer.Option(help="Sample this many frames per second.")]
AggregationOpt = Annotated[
    AggregationChoice | None, typer.Option(help="How a face track is scored.")
]
OperatingPointOpt = Annotated[
    str | None,
    typer.Option(
        "--operating-point",
        help="Decide with this named threshold of the version (deepfake models lists them); "
        "default balanced, the threshold it ships.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Write JSON to standard output.")]


def progress_bar(enabled: bool) -> Progress:
    """Upload bars on standard error, shown only when ``enabled``."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=console(stderr=True),
        disable=not enabled,
        transient=True,
    )


def upload_progress(
    progress: Progress, name: str
) -> tuple[Callable[[int, int | None], None], Callable[[], None]]:
    """An upload callback that fills a bar, then turns it into an analysis spinner."""
    task = progress.add_task(f"uploading {name}", total=None)

    def on_upload(sent: int, total: int | None) -> None:
        progress.update(task, completed=sent, total=total)
        if total is not None and sent >= total:
            progress.update(task, description=f"analysing {name}", total=None)

    def done() -> None:
        progress.remove_task(task)

    return on_upload, done
