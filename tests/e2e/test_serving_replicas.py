"""One gateway, several Serving replicas behind one DNS name: gRPC's round_robin spreads.

In Kubernetes the gateway reaches Serving as ``dns:///serving-headless.<ns>.svc...:8500``:
a headless Service whose name resolves to one A record per ready pod, all on one port,
balanced by the gRPC channel itself (``round_robin``). This test builds the same thing on
one machine, with nothing installed system-wide:

- a DNS server on 127.0.0.1 (dnslib) answers ``replicas.test`` with the current "pod" addresses;
  the gateway is given ``SERVING_TARGET=dns://127.0.0.1:<dns port>/replicas.test:<port>``,
  gRPC's DNS target with an explicit name server;
- every "pod" is a loopback address (127.0.0.1, .2, .3, .4) listening on that one port and
  forwarding to a real ``python -m serving`` (which, like TF Serving, binds 0.0.0.0 on its
  own port); closing the listener is the pod address going away;
- each Serving exports Prometheus metrics on its REST port with the repository's
  ``serving/monitoring.config``; the Predict counts there show where requests went;
- the servers close connections after ``grpc.max_connection_age_ms``
  (``--grpc_channel_arguments``, as the TF Serving Deployment does), so the channel
  re-resolves the name and finds new pods without a gateway restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dnslib import QTYPE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer
from prometheus_client.parser import text_string_to_metric_families

from serving.client import wait_until_available
from stack.processes import ManagedProcess, free_port, serving_command
from tests.conftest import MODEL_NAME, REPO, GatewayHandle
from tests.tiny_model import export_tiny_model

pytestmark = pytest.mark.slow

NAME = "replicas.test"
POD_ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
MONITORING_CONFIG = REPO / "serving" / "monitoring.config"
METRICS_PATH = "/monitoring/prometheus/metrics"
#: Short here so the test sees re-resolution quickly; the Deployment uses minutes.
MAX_CONNECTION_AGE_MS = 3000
#: The gateway's DNS resolver re-resolves at most this often (SERVING_DNS_MIN_INTERVAL_S;
#: 30 s by default, short here so the test does not wait it out).
DNS_MIN_INTERVAL_S = 2.0


class _Resolver(BaseResolver):
    """Answers ``NAME`` with the current addresses (TTL 1 s), everything else empty."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = list(addresses)
        self.queries = 0
        self._lock = threading.Lock()

    def set(self, addresses: list[str]) -> None:
        with self._lock:
            self.addresses = list(addresses)

    def resolve(self, request, handler):  # type: ignore[no-untyped-def]
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".")
        if qname == NAME and request.q.qtype == QTYPE.A:
            with self._lock:
                self.queries += 1
                for address in self.addresses:
                    reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=1))
        return reply


class _PodAddresses:
    """TCP listeners on (pod address, shared port), each forwarding to one Serving."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._servers: dict[str, asyncio.Server] = {}
        self._writers: dict[str, set[asyncio.StreamWriter]] = {}

    def _run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def open(self, address: str, upstream_port: int) -> None:
        """Listen on ``address:port`` and forward to ``127.0.0.1:upstream_port``."""
        writers: set[asyncio.StreamWriter] = set()
        self._writers[address] = writers

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(1 << 16):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
            except OSError:
                writer.transport.abort()
                return
            writers.update((writer, up_writer))
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
            writers.difference_update((writer, up_writer))

        async def start() -> asyncio.Server:
            return await asyncio.start_server(handle, address, self.port)

        self._servers[address] = self._run(start())

    def close(self, address: str) -> None:
        """The pod address goes away: stop listening and reset its connections."""

        async def stop() -> None:
            server = self._servers.pop(address)
            server.close()
            for writer in list(self._writers.pop(address, ())):
                writer.transport.abort()

        self._run(stop())

    def shutdown(self) -> None:
        for address in list(self._servers):
            self.close(address)

        async def cancel_pipes() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._run(cancel_pipes())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@dataclass
class Replica:
    """One Serving process and the pod address in front of it."""

    address: str
    process: ManagedProcess
    grpc_port: int
    rest_port: int

    def predicts(self) -> int:
        """Predict calls this replica has answered, from its Prometheus metrics."""
        url = f"http://127.0.0.1:{self.rest_port}{METRICS_PATH}"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if (
                    sample.name.endswith("request_latency_count")
                    and sample.labels.get("API") == "Predict"
                ):
                    total += sample.value
        return int(total)


@dataclass
class Cluster:
    """Replicas, the pod addresses, the name server and its answers."""

    replicas: list[Replica]
    pods: _PodAddresses
    resolver: _Resolver
    dns_port: int
    port: int
    results: list[int] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"dns://127.0.0.1:{self.dns_port}/{NAME}:{self.port}"

    def counts(self, replicas: list[Replica] | None = None) -> dict[str, int]:
        return {r.address: r.predicts() for r in replicas or self.replicas}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Four Servings of one model; the name resolves to the first three."""
    export_tiny_model(tmp_path / "models", MODEL_NAME, version=1, seed=1, threshold=0.5)
    model_dir = tmp_path / "models" / MODEL_NAME
    port = free_port()
    pods = _PodAddresses(port)
    replicas: list[Replica] = []
    for address in POD_ADDRESSES:
        grpc_port, rest_port = free_port(), free_port()
        extra = (
            f"--rest_api_port={rest_port}",
            f"--monitoring_config_file={MONITORING_CONFIG}",
            "--grpc_channel_arguments="
            f"grpc.max_connection_age_ms={MAX_CONNECTION_AGE_MS},"
            "grpc.max_connection_age_grace_ms=30000",
        )
        process = ManagedProcess(
            f"serving-{address}",
            serving_command(grpc_port, MODEL_NAME, model_dir, extra),
            log_path=tmp_path / f"serving-{address}.log",
            cwd=REPO,
        )
        replicas.append(Replica(address, process, grpc_port, rest_port))
    resolver = _Resolver([r.address for r in replicas[:3]])
    dns = DNSServer(
        resolver,
        port=0,
        address="127.0.0.1",
        logger=DNSLogger("-request,-reply,-truncated,-error", prefix=False),
    )
    dns.start_thread()
    try:
        for replica in replicas:
            try:
                wait_until_available(f"127.0.0.1:{replica.grpc_port}", MODEL_NAME, 180.0)
            except TimeoutError:
                raise AssertionError(replica.process.log_tail()) from None
            pods.open(replica.address, replica.grpc_port)
        yield Cluster(replicas, pods, resolver, dns.server.server_address[1], port)
    finally:
        dns.stop()
        pods.shutdown()
        for replica in replicas:
            replica.process.stop()


def _send(gateway: GatewayHandle, clip: Path, n: int, workers: int = 1) -> list[int]:
    """``n`` detect requests, ``workers`` at a time; their status codes."""
    body = clip.read_bytes()
    headers = {**gateway.auth(), "Content-Type": "video/mp4"}

    def one(_: int) -> int:
        with gateway.client() as client:
            return client.post("/v1/detect", headers=headers, content=body).status_code

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(n)))


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


def test_requests_spread_over_replicas_and_survive_a_lost_one(
    gateway_factory: Callable[..., GatewayHandle],
    cluster: Cluster,
    make_clip: Callable[..., Path],
) -> None:
    first_three = cluster.replicas[:3]
    late = cluster.replicas[3]
    gateway = gateway_factory(
        cluster.target, SERVING_RETRIES="3", SERVING_DNS_MIN_INTERVAL_S=str(DNS_MIN_INTERVAL_S)
    )
    clip = make_clip(frames=8)

    # 1. Spread: one channel, three addresses, each gets its share.
    before = cluster.counts()
    codes = _send(gateway, clip, 30)
    spread = _delta(cluster.counts(), before)
    print("spread over three replicas (Predict calls):", spread)
    assert codes == [200] * 30
    total = sum(spread[r.address] for r in first_three)
    for replica in first_three:
        assert spread[replica.address] >= total // 6, spread
    assert spread[late.address] == 0, "not in DNS yet, so no traffic"

    # 2. A replica dies while requests are in flight: its pod address goes away and the
    #    name stops resolving to it; no request fails (retries pick a live replica).
    lost = first_three[2]
    with ThreadPoolExecutor(1) as background:
        load = background.submit(_send, gateway, clip, 40, 4)
        time.sleep(1.0)
        lost.process.stop(sig=9)
        cluster.pods.close(lost.address)
        cluster.resolver.set([r.address for r in first_three[:2]])
        codes = load.result(timeout=300)
    assert codes == [200] * 40, codes
    log = (gateway.var_dir / "gateway.log").read_text()
    print("calls retried on another replica:", log.count("Serving unavailable, retrying"))
    before = cluster.counts(first_three[:2])
    codes = _send(gateway, clip, 12)
    after_loss = _delta(cluster.counts(first_three[:2]), before)
    print("after losing one replica:", after_loss)
    assert codes == [200] * 12
    assert all(n > 0 for n in after_loss.values()), after_loss

    # 3. A new replica comes up: connections reach their max age, the channel re-resolves
    #    and the new address takes traffic, without restarting the gateway.
    queries_before = cluster.resolver.queries
    cluster.resolver.set([*(r.address for r in first_three[:2]), late.address])
    deadline = time.monotonic() + DNS_MIN_INTERVAL_S + 60
    seen = 0
    while time.monotonic() < deadline:
        codes = _send(gateway, clip, 3)
        assert codes == [200] * 3
        seen = late.predicts()
        if seen >= 2:
            break
        time.sleep(0.5)
    print("predicts on the new replica:", seen, "re-resolutions:", cluster.resolver.queries)
    assert cluster.resolver.queries > queries_before
    assert seen >= 2, "the new replica never got traffic"
    with contextlib.suppress(Exception):
        print("final counts:", cluster.counts([*first_three[:2], late]))
