"""Benchmarks: ``python -m bench`` (``make bench``) times a video's way to a verdict."""
