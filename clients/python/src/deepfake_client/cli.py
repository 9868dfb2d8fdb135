"""The ``deepfake`` command: the SDK from a shell.

Exit codes, for scripts: 0 success; 1 a verdict named by ``--fail-on`` was found (or a
webhook or receipt did not verify); 2 a usage error or a failed request. Connection
settings come from ``--url``/``--api-key``/``--ca-cert``, before or after the command name
(after wins), or from ``DEEPFAKE_URL``/``DEEPFAKE_API_KEY``/``DEEPFAKE_CA_CERT``. Tables and
progress go to the terminal; ``--json`` writes plain JSON to standard output.

Importing it needs the ``cli`` extra (typer, rich); the ``deepfake`` command's entry point,
:func:`deepfake_client._entry.main`, says so when it is missing.

The options, the client and the progress bars the commands share are
:mod:`deepfake_client.cli_options`; the ``jobs`` commands :mod:`deepfake_client.cli_jobs`,
``watch`` (a live session) :mod:`deepfake_client.cli_live`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from . import errors, receipts, webhooks
from .cli_jobs import jobs_app
from .cli_live import watch
from .cli_options import (
    EXIT_ERROR,
    EXIT_FOUND,
    AggregationOpt,
    ApiKeyOpt,
    CaCertOpt,
    Fps,
    Frames,
    JsonOpt,
    ModelLabel,
    ModelVersion,
    OperatingPointOpt,
    UrlOpt,
    Verdict,
    console,
    detect_params,
    errors_exit,
    fail,
    given_after,
    open_client,
    progress_bar,
    upload_progress,
)
from .models import DetectionResponse, OperatingPointInfo

app = typer.Typer(
    help="Detect deepfakes in videos and images with the deepfake detection API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
webhook_app = typer.Typer(help="Webhook deliveries.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(webhook_app, name="webhook")
app.command()(watch)


@app.callback()
def connection(
    ctx: typer.Context, url: UrlOpt = None, api_key: ApiKeyOpt = None, ca_cert: CaCertOpt = None
) -> None:
    """Connection settings given before the command name, for every command."""
    ctx.obj = {"url": url, "api_key": api_key, "ca_cert": ca_cert}


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
    robustness: Annotated[
        bool,
        typer.Option(
            "--robustness",
            help="Also score the video re-encoded (H.264 CRF 23, 30, 38), at half size and "
            "mirrored, and show how far the score moves.",
        ),
    ] = False,
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
    params = detect_params(model_version, model_label, frames, fps, aggregation, operating_point)
    done: list[tuple[str, DetectionResponse]] = []
    failed: list[tuple[str, errors.DeepfakeError | OSError]] = []
    show = progress_bars and not as_json and sys.stderr.isatty()
    with open_client(ctx, url, api_key, ca_cert) as client, progress_bar(show) as progress:
        for path in files:
            on_upload, finished = upload_progress(progress, path.name)
            try:
                answer = client.detect(path, progress=on_upload, robustness=robustness, **params)
                done.append((str(path), answer))
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
            console().print(_result_table(done))
        for name, result in done:
            if result.robustness is not None:
                console().print(_robustness_table(name, result))
        for name, exc in failed:
            console(stderr=True).print(f"[red]error:[/red] {name}: {exc}")
    if failed:
        raise typer.Exit(EXIT_ERROR)
    wanted = {v.value for v in fail_on or []}
    if any(result.verdict in wanted for _, result in done):
        raise typer.Exit(EXIT_FOUND)


def _robustness_table(name: str, result: DetectionResponse) -> Table:
    """Each transformed copy's score beside the upload's, and how far it moved."""
    probe = result.robustness
    assert probe is not None
    flips = f"{probe.verdict_flips} of {len(probe.transforms)} verdicts flip"
    more = "" if probe.complete else "; cut short by the gateway's deadline"
    table = Table(title=f"{name}: robustness ({flips}{more})")
    for column in ("copy", "what", "score", "change", "verdict"):
        table.add_column(column)
    table.add_row("as uploaded", "-", f"{result.score:.4f}", "-", result.verdict)
    for t in probe.transforms:
        verdict = t.verdict if t.verdict == result.verdict else f"[bold]{t.verdict}[/bold]"
        table.add_row(t.name, t.description, f"{t.score:.4f}", f"{t.delta:+.4f}", verdict)
    return table


@app.command()
def models(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """List the model's versions, their states, labels and thresholds."""
    with open_client(ctx, url, api_key, ca_cert) as client, errors_exit():
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
    console().print(table)


def _point_line(point: OperatingPointInfo) -> str:
    """``name threshold`` and, when measured, its false-positive and detection rates."""
    line = f"{point.name} {point.threshold:.4f}"
    fpr, tpr = point.false_positive_rate, point.detection_rate
    if fpr is not None and tpr is not None and fpr.point is not None and tpr.point is not None:
        line += f" (FPR {fpr.point:.3f}, detection {tpr.point:.3f}; {point.fitted_on})"
    return line


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
        console(stderr=True).print(f"[red]invalid:[/red] {exc}")
        raise typer.Exit(EXIT_FOUND) from None
    console(stderr=True).print("[green]valid[/green]")
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


def _is_file(name: str) -> bool:
    """Whether ``name`` names a file (a receipt is too long to be a file name)."""
    try:
        return Path(name).is_file()
    except OSError:
        return False


def _read_jwks(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"cannot read the JWKS {path}: {exc}")
    if not isinstance(loaded, dict) or not isinstance(loaded.get("keys"), list):
        fail(f"{path} is not a JWK Set (no 'keys' list)")
    return loaded


@app.command("verify")
def verify(
    ctx: typer.Context,
    receipt: Annotated[
        str,
        typer.Argument(
            help="The receipt, or a file holding it or a JSON answer (or job) that carries it."
        ),
    ],
    media: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The media file.")],
    jwks_file: Annotated[
        Path | None,
        typer.Option(
            "--jwks",
            exists=True,
            dir_okay=False,
            help="The gateway's JWKS, saved from /.well-known/jwks.json; without it, fetched "
            "from --url.",
        ),
    ] = None,
    url: UrlOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Check an answer's receipt against the gateway's keys and the media file; exit 1 if it
    does not verify. Prints the signed claims as JSON."""
    try:
        text = Path(receipt).read_text() if _is_file(receipt) else receipt
        token = receipts.receipt_from_text(text)
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {receipt}: {exc}")
    except errors.ReceiptVerificationError as exc:
        fail(str(exc))
    if jwks_file is not None:
        jwks = _read_jwks(jwks_file)
    else:
        base = url if given_after(ctx, "url") else ctx.obj["url"]
        cafile = ca_cert if given_after(ctx, "ca_cert") else ctx.obj["ca_cert"]
        if not base:
            fail("give --jwks FILE, or --url (DEEPFAKE_URL) to fetch the gateway's keys")
        with errors_exit():
            jwks = receipts.fetch_jwks(base, ca_cert=cafile)
    try:
        claims = receipts.verify_receipt(token, media, jwks=jwks)
    except errors.ReceiptVerificationError as exc:
        console(stderr=True).print(f"[red]invalid:[/red] {exc}")
        raise typer.Exit(EXIT_FOUND) from None
    except OSError as exc:
        fail(str(exc))
    console(stderr=True).print("[green]valid[/green]")
    sys.stdout.write(json.dumps(claims, indent=2) + "\n")
