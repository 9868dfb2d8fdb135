"""Figures the face-aware report derives from one run: the CPU split and the limit's gap.

The per-video CPU split by stage at concurrency 1, and how far the throughput at a
concurrency stays from the machine's limit and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from .face_aware import FaceAwareResults
from .measurements import ClipResult, median
from .service import LoadRun

#: The clip of the headline ratios.
HEADLINE = "720p"


def faces_per_frame(c: ClipResult) -> float:
    """Median faces per sampled frame in the service's answers on clip ``c``."""
    return median(
        [
            sum(len(p["faces"]) for p in r.body["timeline"]) / max(1, len(r.body["timeline"]))
            for r in c.ok
        ]
    )


def package_ms(c: ClipResult) -> float:
    """Median latency of the ``mtcnn`` package pipeline on clip ``c``."""
    return median([r.total_ms for r in c.package])


@dataclass(frozen=True)
class CpuSplit:
    """CPU seconds per video on the face-aware version, by stage (concurrency 1)."""

    gateway_s: float
    serving_s: float
    decode_s: float
    detection_s: float
    classification_s: float

    @property
    def total_s(self) -> float:
        return self.gateway_s + self.serving_s

    @property
    def rest_s(self) -> float:
        """Gateway besides decoding: HTTP, TLS, upload, gRPC, aggregation."""
        return max(0.0, self.gateway_s - self.decode_s)

    def limit_per_min(self, cores: int) -> float:
        """Videos a minute the machine's cores allow at this CPU cost."""
        return cores * 60.0 / self.total_s if self.total_s > 0 else float("nan")


def cpu_split(results: FaceAwareResults) -> CpuSplit | None:
    """Per-video CPU by stage, from the 720p requests at concurrency 1 and the in-process split.

    Gateway and Serving are their processes' CPU times; decode is the gateway's own code on
    the same clip in process (at most the gateway's time); Serving's time is split into face
    detection and classification by the share the graph's parts take in process.
    """
    head = next((c for c in results.clips if c.clip.name == HEADLINE), None)
    if head is None or not head.ok or results.split is None:
        return None
    gateway = median([r.cpu_ms.get("gateway", float("nan")) for r in head.ok]) / 1000.0
    serving = median([r.cpu_ms.get("serving", float("nan")) for r in head.ok]) / 1000.0
    share = results.split.classification_share
    return CpuSplit(
        gateway_s=gateway,
        serving_s=serving,
        decode_s=min(gateway, results.decode_cpu_ms / 1000.0),
        detection_s=serving * (1.0 - share),
        classification_s=serving * share,
    )


@dataclass(frozen=True)
class LimitGap:
    """Throughput at a concurrency against the machine's limit, and what separates them."""

    fraction: float  # achieved / limit
    service_share: float  # of the cores' time, used by gateway + Serving
    client_share: float  # ... by the bench's clients (this process)
    others_share: float  # ... by other programs
    idle_share: float
    cpu_ratio: float  # CPU per video at concurrency 1 / at this concurrency

    def sentence(self, concurrency: int) -> str:
        causes = {
            "the bench's own clients": self.client_share,
            "other programs on the machine": self.others_share,
            "idle cores (requests waiting on each other, not on CPU)": self.idle_share,
        }
        main = max(causes, key=causes.__getitem__)
        extra = (
            f"; each video also cost {1 / self.cpu_ratio:.2f}x its concurrency-1 CPU time"
            if self.cpu_ratio == self.cpu_ratio and abs(1 - self.cpu_ratio) > 0.05
            else ""
        )
        return (
            f"At concurrency {concurrency} the service reached {self.fraction:.2f} of the "
            f"machine's limit: gateway and Serving used {self.service_share * 100:.0f}% of the "
            f"cores' time, the bench's clients {self.client_share * 100:.0f}%, other programs "
            f"{self.others_share * 100:.0f}% and {self.idle_share * 100:.0f}% stayed idle, so "
            f"what separates them most is {main}{extra}."
        )


def limit_gap(run: LoadRun, split: CpuSplit, cores: int) -> LimitGap:
    """How ``run`` compares with ``cores`` / (CPU seconds per video at concurrency 1)."""
    capacity = cores * run.wall_s
    achieved = len(run.ok) / run.wall_s * 60.0 if run.wall_s else 0.0
    service = run.service_cpu_s / capacity if capacity else float("nan")
    client = run.client_cpu_s / capacity if capacity else float("nan")
    per_video = run.service_cpu_s / max(1, len(run.ok))
    return LimitGap(
        fraction=achieved / split.limit_per_min(cores),
        service_share=service,
        client_share=client,
        others_share=run.others_share,
        idle_share=max(0.0, 1.0 - service - client - run.others_share),
        cpu_ratio=split.total_s / per_video if per_video > 0 else float("nan"),
    )


def load_at(results: FaceAwareResults, concurrency: int) -> LoadRun | None:
    """The load run at ``concurrency``, if it was measured."""
    return next((r for r in results.load if r.concurrency == concurrency), None)
