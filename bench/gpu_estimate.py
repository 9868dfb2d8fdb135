"""A GPU host on paper: expected videos per second from measured CPU costs and published figures.

An estimate, not a measurement (no GPU here): the gateway's per-video CPU work (decode and
the rest) is measured by the bench; the GPU side comes from published per-frame and
per-image latencies, cited by URL. The report states every input next to the result.
"""

from __future__ import annotations

from dataclasses import dataclass

#: MTCNN on a GPU (GTX TITAN X, Python and PyTorch), ms per frame at the two resolutions
#: of the table; the same table gives 15-32 ms on a Core i7-8700K CPU: the cascade's many
#: small ops and its CPU-side NMS and resizing gain little from a GPU one frame at a time.
MTCNN_GPU_MS_PER_FRAME = (17.0, 22.0)
MTCNN_SOURCE = "https://preview.hindawi.com/journals/wcmc/2021/6711561/tab5"
#: EfficientNet-Lite0: 407 M multiply-adds, 9.0 ms FP32 on the Pixel 4's mobile GPU at batch 1
#: (a data-centre GPU running batches does far better; an upper bound per crop).
CLASSIFIER_GPU_MS_PER_CROP = 9.0
CLASSIFIER_SOURCE = (
    "https://github.com/tensorflow/tpu/blob/master/models/official/efficientnet/lite/"
)
#: TF Serving's batching guide: batching is what unlocks an accelerator's throughput;
#: the settings below follow its tuning procedure.
BATCHING_SOURCE = (
    "https://github.com/tensorflow/serving/blob/b5a11f1e5388c9985a6fc56a58c3421e5f78149f/"
    "tensorflow_serving/batching/README.md"
)
#: Concurrent batches assumed on the GPU (``num_batch_threads``): the cascade leaves the
#: GPU idle during its CPU-side steps, which another batch fills. An assumption, stated.
GPU_CONCURRENT_BATCHES = 2


@dataclass(frozen=True)
class GpuEstimate:
    """Throughput of one GPU host, per stage, videos per second."""

    frames: int
    faces_per_frame: float
    gateway_cores: int
    decode_cpu_s: float  # per video, measured
    gateway_rest_cpu_s: float  # per video, measured (HTTP, TLS, upload, gRPC, aggregate)
    detection_gpu_s: float  # per video, from the published MTCNN figure (worse case)
    classification_gpu_s: float  # per video, from the published classifier figure

    @property
    def gateway_videos_per_s(self) -> float:
        per_video = self.decode_cpu_s + self.gateway_rest_cpu_s
        return self.gateway_cores / per_video if per_video > 0 else float("inf")

    @property
    def gpu_videos_per_s(self) -> float:
        per_video = self.detection_gpu_s + self.classification_gpu_s
        return GPU_CONCURRENT_BATCHES / per_video if per_video > 0 else float("inf")

    @property
    def videos_per_s(self) -> float:
        return min(self.gateway_videos_per_s, self.gpu_videos_per_s)

    @property
    def first_to_saturate(self) -> str:
        if self.gpu_videos_per_s <= self.gateway_videos_per_s:
            return "the GPU (face detection first: it is most of the GPU time)"
        return "the gateway's cores (decoding)"

    @property
    def cores_to_match_gpu(self) -> float:
        """Gateway cores that decode as fast as the GPU classifies."""
        return self.gpu_videos_per_s * (self.decode_cpu_s + self.gateway_rest_cpu_s)


def estimate(
    *,
    frames: int,
    faces_per_frame: float,
    decode_cpu_s: float,
    gateway_rest_cpu_s: float,
    gateway_cores: int = 8,
) -> GpuEstimate:
    """The estimate for ``frames`` sampled frames a video and the measured gateway costs."""
    return GpuEstimate(
        frames=frames,
        faces_per_frame=faces_per_frame,
        gateway_cores=gateway_cores,
        decode_cpu_s=decode_cpu_s,
        gateway_rest_cpu_s=gateway_rest_cpu_s,
        detection_gpu_s=frames * max(MTCNN_GPU_MS_PER_FRAME) / 1000.0,
        # The graph classifies every face and, for frames without one, the whole frame:
        # at least one image per frame.
        classification_gpu_s=frames
        * max(1.0, faces_per_frame)
        * CLASSIFIER_GPU_MS_PER_CROP
        / 1000.0,
    )


def batching_settings(est: GpuEstimate, batch: int) -> list[str]:
    """``serving/batching.config`` settings that fit the estimate (text format lines)."""
    # Enough queued batches for every video the gateway cores decode at once, at most two
    # per concurrent batch thread and video.
    in_flight_videos = max(2, est.gateway_cores)
    return [
        f"max_batch_size {{ value: {4 * batch} }}",
        "batch_timeout_micros { value: 2000 }",
        f"max_enqueued_batches {{ value: {2 * in_flight_videos} }}",
        f"num_batch_threads {{ value: {GPU_CONCURRENT_BATCHES} }}",
        f"allowed_batch_sizes: {batch}",
        f"allowed_batch_sizes: {2 * batch}",
        f"allowed_batch_sizes: {4 * batch}",
        "pad_variable_length_inputs: false",
    ]
