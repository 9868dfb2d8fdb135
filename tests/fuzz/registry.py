"""The fuzz targets by name: the module each is, what atheris instruments, and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The committed (text) seeds, one folder per target.
CORPUS = HERE / "corpus"
#: The binary (media) seeds, made on first use (``make_seeds.generated``); never committed.
GENERATED = HERE.parents[1] / "var" / "fuzz" / "seeds"
CRASHES = HERE / "crashes"


@dataclass(frozen=True)
class Target:
    """One fuzz target and the libFuzzer limits it runs under."""

    name: str
    #: Packages whose Python code is instrumented for coverage feedback (native code, such
    #: as FFmpeg, Pillow's decoders or c2pa-rs, is run but gives no feedback).
    instrument: tuple[str, ...]
    #: Longest input libFuzzer makes, in bytes.
    max_len: int
    #: Seconds one input may take before it counts as a hang.
    timeout_s: int
    #: Resident memory, in MB, past which the process counts as leaking or blowing up.
    rss_limit_mb: int = 2048

    @property
    def module(self) -> str:
        """The importable module holding ``TestOneInput``."""
        return f"tests.fuzz.targets.{self.name}"

    @property
    def corpus(self) -> Path:
        """The committed (text) seeds; a new folder when the target has none."""
        folder = CORPUS / self.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def seed_folders(self) -> list[Path]:
        """Every seed folder: the committed one, then the generated media seeds."""
        from tests.fuzz.make_seeds import generated

        return [self.corpus, generated(self.name)]


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("upload", ("gateway.api.upload", "python_multipart"), max_len=20_000, timeout_s=10),
        Target(
            "probe", ("gateway.pipeline.sources", "gateway.pipeline.probe", "contract"), 32_768, 20
        ),
        Target("image", ("gateway.pipeline.image", "gateway.pipeline.video", "PIL"), 32_768, 20),
        # c2pa's own time limit in the gateway (GATEWAY_C2PA_TIMEOUT_S) is 10 s.
        Target("provenance", ("gateway.pipeline.provenance",), 65_536, 10),
        Target("jobs", ("gateway.jobs", "gateway.errors", "fastapi", "starlette"), 4096, 10),
        Target("live", ("gateway.api.live", "gateway.pipeline.image", "pydantic"), 32_768, 20),
    )
}
