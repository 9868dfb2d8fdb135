"""The ``deepfake`` command: the SDK from a shell.

Exit codes, for scripts: 0 success; 1 a verdict named by ``--fail-on`` was found (or a
webhook did not verify); 2 a usage error or a failed request. Connection settings come from
``--url``/``--api-key``/``--ca-cert``, before or after the command name (after wins), or
from ``DEEPFAKE_URL``/``DEEPFAKE_API_KEY``/``DEEPFAKE_CA_CERT``. Tables and progress go to
the terminal; ``--json`` writes plain JSON to standard output.

Importing it needs the ``cli`` extra (typer, rich); the ``deepfake`` command's entry point,
:func:`deepfake_client._entry.main`, says so when it is missing.

Most of its length is the commands' option declarations and the tables they print.
"""

from __future__ import annotations

import json
import sys
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
from rich.table import Table

from . import errors, webhooks
from ._sync import Client
from .jobs import Job
from .models import DetectionResponse, OperatingPointInfo

EXIT_OK, EXIT_FOUND, EXIT_ERROR = 0, 1, 2


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


class Verdict(StrEnum):
    real = "real"
    fake = "fake"
    inconclusive = "inconclusive"


class AggregationChoice(StrEnum):
    mean = "mean"
    median = "median"
    topk_mean = "topk_mean"
    confident = "confident"
    max = "max"
    sequence = "sequence"


def _fail(message: str) -> NoReturn:
    _console(stderr=True).print(f"[red]error:[/red] {message}", markup=True)
    raise typer.Exit(EXIT_ERROR)


def _given_after(ctx: typer.Context, name: str) -> bool:
    """Whether the command's own option ``name`` was on the command line (not from its
    environment variable or default)."""
    source = ctx.get_parameter_source(name)
    # By name: typer vendors click and does not export its ParameterSource.
    return source is not None and source.name == "COMMANDLINE"


def _client(
    ctx: typer.Context, url: str | None, api_key: str | None, ca_cert: Path | None
) -> Client:
    """A client from the connection options given after the command name, each falling back
    to what :func:`connection` resolved before it (option, else environment variable)."""
    after = {"url": url, "api_key": api_key, "ca_cert": ca_cert}
    settings = {k: v if _given_after(ctx, k) else ctx.obj[k] for k, v in after.items()}
    try:
        return Client(settings["url"], api_key=settings["api_key"], ca_cert=settings["ca_cert"])
    except (ValueError, OSError) as exc:
        _fail(str(exc))


@contextmanager
def _errors_exit() -> Iterator[None]:
    """Report an SDK error on standard error and exit 2."""
    try:
        yield
    except errors.DeepfakeError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(str(exc))


app = typer.Typer(
    help="Detect deepfakes in videos and images with the deepfake detection API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
jobs_app = typer.Typer(help="Asynchronous detection jobs.", no_args_is_help=True)
webhook_app = typer.Typer(help="Webhook deliveries.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(webhook_app, name="webhook")


# The connection options, declared once: the app's callback takes them before the command
# name, every command that calls the gateway takes them after it.
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


@app.callback()
def connection(
    ctx: typer.Context, url: UrlOpt = None, api_key: ApiKeyOpt = None, ca_cert: CaCertOpt = None
) -> None:
    """Connection settings given before the command name, for every command."""
    ctx.obj = {"url": url, "api_key": api_key, "ca_cert": ca_cert}


def _params(
    model_version: int | None,
    model_label: str | None,
    frames: int | None,
    fps: float | None,
    aggregation: AggregationChoice | None,
    operating_point: str | None = None,
) -> dict[str, Any]:
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


def _progress(enabled: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=_console(stderr=True),
        disable=not enabled,
        transient=True,
    )


def _with_progress(
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


def _result_table(rows: list[tuple[str, DetectionResponse]]) -> Table:
    table = Table(title="Detections")
    for column in ("file", "verdict", "score", "threshold", "model", "tracks", "frames"):
        table.add_column(column, justify="right" if column not in ("file", "verdict") else "left")
    colours = {"fake": "red", "real": "green", "inconclusive": "yellow"}
    for name, result in rows:
        tracks = ", ".join(f"#{t.id} {t.score:.3f}" for t in result.tracks) or "-"
        table.add_row(
            name,
            f"[{colours.get(result.verdict, 'white')}]{result.verdict}[/]",
            f"{result.score:.4f}",
            f"{result.threshold:.4f}",
            f"{result.model.name} v{result.model.version}",
            tracks,
            str(result.frames_analyzed),
        )
    return table


@app.command()
def detect(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(help="Videos or still images (JPEG, PNG, WebP) to analyse.", exists=True),
    ],
    model_version: ModelVersion = None,
    model_label: ModelLabel = None,
    frames: Frames = None,
    fps: Fps = None,
    aggregation: AggregationOpt = None,
    operating_point: OperatingPointOpt = None,
    fail_on: Annotated[
        list[Verdict] | None,
        typer.Option("--fail-on", help="Exit 1 when any verdict is this (repeatable)."),
    ] = None,
    as_json: JsonOpt = False,
    progress_bars: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show progress on the terminal.")
    ] = True,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Upload videos or still images and print a verdict for each."""
    params = _params(model_version, model_label, frames, fps, aggregation, operating_point)
    done: list[tuple[str, DetectionResponse]] = []
    failed: list[tuple[str, errors.DeepfakeError | OSError]] = []
    show = progress_bars and not as_json and sys.stderr.isatty()
    with _client(ctx, url, api_key, ca_cert) as client, _progress(show) as progress:
        for path in files:
            on_upload, finished = _with_progress(progress, path.name)
            try:
                done.append((str(path), client.detect(path, progress=on_upload, **params)))
            except (errors.DeepfakeError, OSError) as exc:
                failed.append((str(path), exc))
            finally:
                finished()
    if as_json:
        out: list[dict[str, Any]] = [
            {"file": name, "result": r.model_dump(mode="json")} for name, r in done
        ]
        for name, exc in failed:
            code = exc.code if isinstance(exc, errors.ApiError) else type(exc).__name__
            out.append({"file": name, "error": {"code": code, "message": str(exc)}})
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        if done:
            _console().print(_result_table(done))
        for name, exc in failed:
            _console(stderr=True).print(f"[red]error:[/red] {name}: {exc}")
    if failed:
        raise typer.Exit(EXIT_ERROR)
    wanted = {v.value for v in fail_on or []}
    if any(result.verdict in wanted for _, result in done):
        raise typer.Exit(EXIT_FOUND)


@app.command()
def models(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """List the model's versions, their states, labels and thresholds."""
    with _client(ctx, url, api_key, ca_cert) as client, _errors_exit():
        listing = client.models.list()
    if as_json:
        sys.stdout.write(listing.model_dump_json(indent=2) + "\n")
        return
    table = Table(title=f"Model {listing.name}")
    for column in ("version", "state", "labels", "threshold", "sequence", "operating points"):
        table.add_column(column)
    for v in listing.versions:
        table.add_row(
            str(v.version),
            v.state,
            ", ".join(v.labels or []) or "-",
            "-" if v.threshold is None else f"{v.threshold:.4f}",
            "-" if not v.sequence_length else str(v.sequence_length),
            "\n".join(_point_line(p) for p in v.operating_points or []) or "-",
        )
    _console().print(table)


def _point_line(point: OperatingPointInfo) -> str:
    """``name threshold`` and, when measured, its false-positive and detection rates."""
    line = f"{point.name} {point.threshold:.4f}"
    fpr, tpr = point.false_positive_rate, point.detection_rate
    if fpr is not None and tpr is not None and fpr.point is not None and tpr.point is not None:
        line += f" (FPR {fpr.point:.3f}, detection {tpr.point:.3f}; {point.fitted_on})"
    return line


def _print_jobs(jobs: list[Job], as_json: bool) -> None:
    if as_json:
        body = [j.model_dump(mode="json") for j in jobs]
        sys.stdout.write(json.dumps(body if len(body) != 1 else body[0], indent=2) + "\n")
        return
    table = Table(title="Jobs")
    for column in ("id", "state", "verdict", "score", "created"):
        table.add_column(column)
    for j in jobs:
        table.add_row(
            j.id,
            j.state,
            j.result.verdict if j.result else "-",
            f"{j.result.score:.4f}" if j.result else "-",
            j.created_at or "-",
        )
    _console().print(table)


@jobs_app.command("create")
def jobs_create(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(help="Videos or still images (JPEG, PNG, WebP) to analyse.", exists=True),
    ],
    model_version: ModelVersion = None,
    model_label: ModelLabel = None,
    frames: Frames = None,
    fps: Fps = None,
    aggregation: AggregationOpt = None,
    operating_point: OperatingPointOpt = None,
    callback_url: Annotated[
        str | None, typer.Option(help="https URL that receives a signed webhook at the end.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until each job is final.")] = False,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Upload videos as jobs."""
    params = _params(model_version, model_label, frames, fps, aggregation, operating_point)
    created: list[Job] = []
    with _client(ctx, url, api_key, ca_cert) as client, _errors_exit():
        for path in files:
            job = client.jobs.create(path, callback_url=callback_url, **params)
            if wait:
                job = client.jobs.wait(job.id, raise_on_failure=False)
            created.append(job)
    _print_jobs(created, as_json)


@jobs_app.command("submit-url")
def jobs_submit_url(
    ctx: typer.Context,
    media_urls: Annotated[
        list[str], typer.Argument(help="http(s) URLs of videos or images for the gateway to fetch.")
    ],
    model_version: ModelVersion = None,
    model_label: ModelLabel = None,
    frames: Frames = None,
    fps: Fps = None,
    aggregation: AggregationOpt = None,
    operating_point: OperatingPointOpt = None,
    callback_url: Annotated[
        str | None, typer.Option(help="https URL that receives a signed webhook at the end.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until each job is final.")] = False,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Make jobs that fetch their media from URLs (nothing is uploaded)."""
    params = _params(model_version, model_label, frames, fps, aggregation, operating_point)
    created: list[Job] = []
    with _client(ctx, url, api_key, ca_cert) as client, _errors_exit():
        for media_url in media_urls:
            job = client.jobs.submit_url(media_url, callback_url=callback_url, **params)
            if wait:
                job = client.jobs.wait(job.id, raise_on_failure=False)
            created.append(job)
    _print_jobs(created, as_json)


@jobs_app.command("get")
def jobs_get(
    ctx: typer.Context,
    job_id: str,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Show a job."""
    with _client(ctx, url, api_key, ca_cert) as client, _errors_exit():
        job = client.jobs.get(job_id)
    _print_jobs([job], as_json)


@jobs_app.command("wait")
def jobs_wait(
    ctx: typer.Context,
    job_id: str,
    timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds.")] = None,
    events: Annotated[bool, typer.Option("--events", help="Follow the event stream.")] = False,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Wait until a job is final; exit 2 unless it succeeded."""
    with _client(ctx, url, api_key, ca_cert) as client, _errors_exit():
        job = client.jobs.wait(job_id, timeout=timeout, events=events, raise_on_failure=False)
    _print_jobs([job], as_json)
    if job.state != "succeeded":
        raise typer.Exit(EXIT_ERROR)


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """List this API key's jobs."""
    with _client(ctx, url, api_key, ca_cert) as client, _errors_exit():
        found = list(client.jobs.iter())
    if as_json:
        sys.stdout.write(json.dumps([j.model_dump(mode="json") for j in found], indent=2) + "\n")
    else:
        _print_jobs(found, False)


@jobs_app.command("cancel")
def jobs_cancel(
    ctx: typer.Context,
    job_id: str,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Cancel a job."""
    with _client(ctx, url, api_key, ca_cert) as client, _errors_exit():
        job = client.jobs.cancel(job_id)
    _print_jobs([job], as_json)


@jobs_app.command("delete")
def jobs_delete(
    ctx: typer.Context,
    job_id: str,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Delete a job and its result."""
    with _client(ctx, url, api_key, ca_cert) as client, _errors_exit():
        client.jobs.delete(job_id)


def _read_headers(path: Path) -> dict[str, str]:
    """Headers from a JSON object, or from ``Name: value`` lines."""
    text = path.read_text()
    try:
        loaded = json.loads(text)
    except ValueError:
        loaded = None
    if isinstance(loaded, dict):
        return {str(k): str(v) for k, v in loaded.items()}
    headers: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers[name.strip()] = value.strip()
    return headers


@webhook_app.command("verify")
def webhook_verify(
    secret: Annotated[
        str,
        typer.Option(envvar="DEEPFAKE_WEBHOOK_SECRET", help="The endpoint's whsec_ secret."),
    ],
    headers_file: Annotated[
        Path,
        typer.Option(exists=True, help="The delivery's headers: JSON or 'Name: value' lines."),
    ],
    body_file: Annotated[Path, typer.Option(exists=True, help="The delivery's raw body.")],
) -> None:
    """Check a webhook delivery's signature; exit 1 if it does not verify."""
    try:
        payload = webhooks.verify(_read_headers(headers_file), body_file.read_bytes(), secret)
    except errors.WebhookVerificationError as exc:
        _console(stderr=True).print(f"[red]invalid:[/red] {exc}")
        raise typer.Exit(EXIT_FOUND) from None
    _console(stderr=True).print("[green]valid[/green]")
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")
