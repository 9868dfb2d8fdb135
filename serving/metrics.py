"""Prometheus metrics with TF Serving's names, exported on the REST port.

TF Serving registers ``/tensorflow/serving/request_count`` (labels model_name,
status), ``/tensorflow/serving/request_latency`` (model_name, API, entrypoint),
``/tensorflow/serving/model_warmup_latency`` and
``/tensorflow/serving/model_warmup_records_read`` (model_path), and the
Prometheus exporter rewrites ``/`` to ``:`` (util/prometheus_exporter.cc), so
``/tensorflow/serving/request_count`` is scraped as
``:tensorflow:serving:request_count``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import grpc
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


def prometheus_name(name: str) -> str:
    """TF Serving's exporter name mangling: every '/' becomes ':'."""
    return name.replace("/", ":")


class _Counter(Collector):
    """A labelled counter exported under its exact name.

    prometheus_client's Counter appends ``_total``; TF Serving's exporter does
    not (``:tensorflow:serving:request_count{...} 3``), so dashboards and alerts
    written for TF Serving need the bare name. The family is declared untyped
    because prometheus_client would otherwise rename its header.
    """

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self._name = name
        self._doc = documentation
        self._labels = tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def inc(self, labels: Sequence[str], amount: float = 1.0) -> None:
        """Add ``amount`` to the series with these label values."""
        key = tuple(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self._name, self._doc, "unknown")
        with self._lock:
            for key, value in self._values.items():
                metric.add_sample(self._name, dict(zip(self._labels, key, strict=True)), value)
        yield metric

    def describe(self) -> Iterator[Metric]:
        yield Metric(self._name, self._doc, "unknown")


class Metrics:
    """A private registry holding the serving metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = _Counter(
            prometheus_name("/tensorflow/serving/request_count"),
            "The total number of requests.",
            ["model_name", "status"],
            self.registry,
        )
        self._latency = Histogram(
            prometheus_name("/tensorflow/serving/request_latency"),
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"],
            buckets=[10 * 1.8**i for i in range(33)],
            registry=self.registry,
        )
        self._warmup_latency = Histogram(
            prometheus_name("/tensorflow/serving/model_warmup_latency"),
            "Distribution of wall time (in microseconds) for warming up the model.",
            ["model_path", "status"],
            buckets=[10 * 1.8**i for i in range(33)],
            registry=self.registry,
        )
        self._warmup_records = _Counter(
            prometheus_name("/tensorflow/serving/model_warmup_records_read"),
            "The total number of warmup records read.",
            ["model_path", "status"],
            self.registry,
        )
        self._batch_size = Histogram(
            prometheus_name("/tensorflow/serving/batching_session/processed_batch_size"),
            "Tracks the batch size distribution on processing.",
            ["model_name"],
            buckets=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
            registry=self.registry,
        )
        self._versions = Gauge(
            prometheus_name("/tensorflow/serving/model_versions_available"),
            "Versions of a model currently AVAILABLE.",
            ["model_name"],
            registry=self.registry,
        )

    def observe_request(
        self,
        api: str,
        model_name: str,
        code: grpc.StatusCode,
        seconds: float,
        entrypoint: str = "GRPC",
    ) -> None:
        """Count one request and its latency."""
        self._requests.inc((model_name, "OK" if code == grpc.StatusCode.OK else code.name))
        self._latency.labels(model_name, api, entrypoint).observe(seconds * 1e6)

    def observe_warmup(self, model_path: str, records: int, seconds: float, ok: bool) -> None:
        """Record a warmup run."""
        status = "OK" if ok else "ERROR"
        self._warmup_latency.labels(model_path, status).observe(seconds * 1e6)
        self._warmup_records.inc((model_path, status), records)

    def observe_batch(self, model_name: str, size: int) -> None:
        """Record the size of a batch the batcher ran."""
        self._batch_size.labels(model_name).observe(size)

    def set_available_versions(self, model_name: str, count: int) -> None:
        """Publish how many versions of a model are AVAILABLE."""
        self._versions.labels(model_name).set(count)

    def render(self) -> bytes:
        """Prometheus text exposition."""
        return generate_latest(self.registry)
