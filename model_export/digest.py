"""The digest a version reports about itself: SHA-256 of its SavedModel, written in at export.

A version's ``model_info`` returns ``model_digest`` (``contract.MODEL_DIGEST``), so that a
client learns through Serving, which reports nothing of a version's files, which SavedModel
answered. The digest cannot cover its own value, so it is computed over the files as
exported with the placeholder :data:`contract.MODEL_DIGEST_PLACEHOLDER` in the graph, and
then written over the placeholder. Both are strings of the same length, so the graph's
other bytes stay as they were, and anyone can check a version's files offline
(:func:`read_digest`): put the placeholder back and hash again.

What is hashed (:func:`savedmodel_digest`): ``saved_model.pb`` and every file under
``variables/`` and ``assets/``, in order of their relative paths, each as its path, its
length and its bytes. Left out: ``fingerprint.pb`` (TensorFlow's own checksums of
``saved_model.pb``, which publishing rewrites once the digest is in) and ``assets.extra/``
(the warmup requests and the export info, which Serving does not load into the model).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import contract

__all__ = ["read_digest", "savedmodel_digest", "write_digest"]

_GRAPH = "saved_model.pb"
_HASHED_DIRS = ("variables", "assets")
_PLACEHOLDER = contract.MODEL_DIGEST_PLACEHOLDER.encode("ascii")
_PREFIX = b"sha256:"


def _files(version_dir: Path) -> list[Path]:
    files = [version_dir / _GRAPH]
    for name in _HASHED_DIRS:
        folder = version_dir / name
        if folder.is_dir():
            files += [p for p in folder.rglob("*") if p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(version_dir).as_posix())


def savedmodel_digest(version_dir: Path, graph: bytes | None = None) -> str:
    """``sha256:<hex>`` of the SavedModel in ``version_dir`` (``graph``: its
    ``saved_model.pb`` bytes to hash instead of the file's)."""
    digest = hashlib.sha256()
    for path in _files(version_dir):
        relative = path.relative_to(version_dir).as_posix()
        data = graph if relative == _GRAPH and graph is not None else path.read_bytes()
        name = relative.encode()
        # Length-prefixed, so that no two different trees hash the same bytes.
        digest.update(len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big"))
        digest.update(data)
    return "sha256:" + digest.hexdigest()


def write_digest(version_dir: Path) -> str | None:
    """Write the SavedModel's digest over the placeholder its ``model_info`` carries.

    Returns the digest; None (nothing written) when the graph has no placeholder (no
    ``model_info``, or one exported before ``model_digest`` existed). The graph may hold the
    placeholder more than once (a SavedModel keeps a signature's function and the function
    it wraps); every copy is the one constant, and gets the digest.
    """
    graph_path = version_dir / _GRAPH
    graph = graph_path.read_bytes()
    if _PLACEHOLDER not in graph:
        return None
    digest = savedmodel_digest(version_dir)
    sealed = graph.replace(_PLACEHOLDER, digest.encode("ascii"))
    tmp = graph_path.with_suffix(".pb.tmp")
    tmp.write_bytes(sealed)
    tmp.replace(graph_path)
    return digest


def read_digest(version_dir: Path) -> str | None:
    """The digest written into ``version_dir``'s graph, checked against its files.

    It is the ``sha256:`` string of the graph that, put back to the placeholder, makes the
    files hash to it (a graph may hold others: an ensemble keeps its members' graphs, with
    their digests). None when none does: no digest was written, or the files changed since.
    """
    graph = (version_dir / _GRAPH).read_bytes()
    for candidate in _candidates(graph):
        restored = graph.replace(candidate, _PLACEHOLDER)
        if savedmodel_digest(version_dir, graph=restored).encode("ascii") == candidate:
            return candidate.decode("ascii")
    return None


def _candidates(graph: bytes) -> set[bytes]:
    """Every ``sha256:<64 hex>`` string in ``graph``."""
    found: set[bytes] = set()
    start = graph.find(_PREFIX)
    while start >= 0:
        candidate = graph[start : start + len(_PLACEHOLDER)]
        hexpart = candidate[len(_PREFIX) :]
        if len(hexpart) == 64 and all(c in b"0123456789abcdef" for c in hexpart):
            found.add(candidate)
        start = graph.find(_PREFIX, start + 1)
    return found
