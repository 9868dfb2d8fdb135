"""``deepfake jobs``: asynchronous detection jobs from the shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ._sync import Client
from .cli_options import (
    EXIT_ERROR,
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
    console,
    detect_params,
    errors_exit,
    open_client,
)
from .jobs import Job
from .models import ReplayResponse

jobs_app = typer.Typer(help="Asynchronous detection jobs.", no_args_is_help=True)


def print_jobs(jobs: list[Job], as_json: bool) -> None:
    """The jobs as a table, or as JSON (one object for one job)."""
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
    console().print(table)


CallbackUrlOpt = Annotated[
    str | None, typer.Option(help="https URL that receives a signed webhook at the end.")
]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Wait until each job is final.")]


def _made(client: Client, job: Job, wait: bool) -> Job:
    """``job`` as made, or as it ended when ``wait``."""
    return client.jobs.wait(job.id, raise_on_failure=False) if wait else job


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
    callback_url: CallbackUrlOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Upload videos as jobs."""
    params = detect_params(model_version, model_label, frames, fps, aggregation, operating_point)
    with open_client(ctx, url, api_key, ca_cert) as client, errors_exit():
        created = [
            _made(client, client.jobs.create(path, callback_url=callback_url, **params), wait)
            for path in files
        ]
    print_jobs(created, as_json)


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
    callback_url: CallbackUrlOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Make jobs that fetch their media from URLs (nothing is uploaded)."""
    params = detect_params(model_version, model_label, frames, fps, aggregation, operating_point)
    with open_client(ctx, url, api_key, ca_cert) as client, errors_exit():
        created = [
            _made(client, client.jobs.submit_url(link, callback_url=callback_url, **params), wait)
            for link in media_urls
        ]
    print_jobs(created, as_json)


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
    with open_client(ctx, url, api_key, ca_cert) as client, errors_exit():
        job = client.jobs.get(job_id)
    print_jobs([job], as_json)


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
    with open_client(ctx, url, api_key, ca_cert) as client, errors_exit():
        job = client.jobs.wait(job_id, timeout=timeout, events=events, raise_on_failure=False)
    print_jobs([job], as_json)
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
    with open_client(ctx, url, api_key, ca_cert) as client, errors_exit():
        found = list(client.jobs.iter())
    if as_json:
        sys.stdout.write(json.dumps([j.model_dump(mode="json") for j in found], indent=2) + "\n")
    else:
        print_jobs(found, False)


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
    with open_client(ctx, url, api_key, ca_cert) as client, errors_exit():
        job = client.jobs.cancel(job_id)
    print_jobs([job], as_json)


@jobs_app.command("delete")
def jobs_delete(
    ctx: typer.Context,
    job_id: str,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Delete a job and its result."""
    with open_client(ctx, url, api_key, ca_cert) as client, errors_exit():
        client.jobs.delete(job_id)


def _delta(value: float | None) -> str:
    return f"{value:+.4f}" if value is not None else "-"


def _score(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "-"


def print_replay(replay: ReplayResponse) -> None:
    """Both answers of a replay and their difference: verdict, score, tracks, timeline."""
    then, now, diff = replay.original, replay.replay, replay.difference
    table = Table(title=f"Job {replay.job_id}: version {then.model.version} -> {now.model.version}")
    for column in ("", "original", "replay", "delta"):
        table.add_column(column)
    changed = " (changed)" if diff.verdict_changed else ""
    table.add_row("verdict", then.verdict, now.verdict + changed, "")
    table.add_row("score", _score(then.score), _score(now.score), _delta(diff.score_delta))
    for track in diff.tracks:
        table.add_row(
            f"track {track.id}", _score(track.original), _score(track.replay), _delta(track.delta)
        )
    for point in diff.timeline:
        table.add_row(
            f"t={point.t_s:.2f}s", _score(point.original), _score(point.replay), _delta(point.delta)
        )
    console().print(table)


@jobs_app.command("replay")
def jobs_replay(
    ctx: typer.Context,
    job_id: str,
    model_version: Annotated[
        int, typer.Option("--model-version", min=1, help="Score the job's media with this version.")
    ],
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_cert: CaCertOpt = None,
) -> None:
    """Score a succeeded job's media again with another version and show the difference."""
    with open_client(ctx, url, api_key, ca_cert) as client, errors_exit():
        replay = client.jobs.replay(job_id, model_version)
    if as_json:
        sys.stdout.write(json.dumps(replay.model_dump(mode="json"), indent=2) + "\n")
    else:
        print_replay(replay)
