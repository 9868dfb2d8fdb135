"""The bench's receipt figure: measured by signing real receipts, shown in the report."""

from __future__ import annotations

from bench.receipts import ReceiptCost, measure_signing, section
from bench.report import BenchResults, render


def test_signing_is_measured_on_real_receipts() -> None:
    cost = measure_signing(signatures=5)
    assert cost.signatures == 5 and cost.mean_us > 0
    # A compact JWS of a 32-frame answer: three base64url parts.
    assert cost.token_bytes > 500


def test_the_report_shows_the_figure_before_its_summary_lines() -> None:
    results = BenchResults(
        meta={"timestamp": "now"}, clips=[], load=[], load_clip="720p", memory={},
        receipt=ReceiptCost(mean_us=123.4, signatures=2000, token_bytes=1200),
    )  # fmt: skip
    text = render(results)
    assert "\n".join(section(results.receipt)) in text
    assert "**123 µs** per receipt" in text
    assert text.index("## Signing a receipt") < text.index("ratio service/naive")
