"""Markdown pieces of the benchmark and soak reports: numbers of milliseconds and tables."""

from __future__ import annotations


def ms(value: float) -> str:
    """Milliseconds as the reports print them: whole above 10, one decimal below, n/a for NaN."""
    if value != value:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.1f}"


def table(header: list[str], rows: list[list[str]], *, right: int = 0) -> list[str]:
    """A Markdown table's lines; its last ``right`` columns (numbers) aligned right."""
    left = len(header) - right
    rule = ["---"] * left + ["---:"] * right
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines
