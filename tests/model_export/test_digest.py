"""The SavedModel digest a version reports in ``model_info``: written at export over its
placeholder, what the files hash to, and checkable offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import contract
from model_export.digest import read_digest, savedmodel_digest, write_digest
from model_export.savedmodel import load_version
from tests.tiny_model import export_tiny_model


@pytest.fixture(scope="module")
def version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tiny_model(tmp_path_factory.mktemp("digest"), "deepfake", version=1, seed=1)


def test_model_info_reports_the_digest_its_files_hash_to(version: Path) -> None:
    digest = read_digest(version)
    assert digest is not None and digest != contract.MODEL_DIGEST_PLACEHOLDER
    with load_version(version) as loaded:
        frame = np.zeros([2, 1, 1, 3], np.uint8)
        out = loaded.run({contract.FRAMES_INPUT: frame}, contract.MODEL_INFO_SIGNATURE)
    assert [v.decode() for v in out[contract.MODEL_DIGEST]] == [digest, digest]
    placeholder = contract.MODEL_DIGEST_PLACEHOLDER.encode()
    assert placeholder not in (version / "saved_model.pb").read_bytes()


def test_tensorflows_fingerprint_is_of_the_graph_as_sealed(version: Path) -> None:
    from tensorflow.core.protobuf import fingerprint_pb2
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

    stored = fingerprint_pb2.FingerprintDef.FromString((version / "fingerprint.pb").read_bytes())
    fresh = fingerprint_pb2.FingerprintDef.FromString(
        fingerprinting.CreateFingerprintDef(str(version))
    )
    assert stored.saved_model_checksum == fresh.saved_model_checksum
    assert stored.graph_def_program_hash == fresh.graph_def_program_hash


def test_other_weights_give_another_digest(version: Path, tmp_path: Path) -> None:
    other = export_tiny_model(tmp_path, "deepfake", version=1, seed=2)
    assert read_digest(other) is not None
    assert read_digest(other) != read_digest(version)


def test_a_changed_file_no_longer_matches(version: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(version, copy)
    data = next((copy / "variables").glob("variables.data-*"))
    raw = bytearray(data.read_bytes())
    raw[-1] ^= 0xFF
    data.write_bytes(bytes(raw))
    assert read_digest(copy) is None
    # What is left out of the digest may change: the warmup and export info.
    shutil.rmtree(copy)
    shutil.copytree(version, copy)
    (copy / "assets.extra" / "export_info.json").write_text("{}")
    assert read_digest(copy) == read_digest(version)


def test_a_graph_without_the_placeholder_is_left_as_it_is(version: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(version, copy)
    before = (copy / "saved_model.pb").read_bytes()
    assert write_digest(copy) is None
    assert (copy / "saved_model.pb").read_bytes() == before
    # The files as they are hash otherwise: the digest was of the graph with the placeholder.
    assert savedmodel_digest(copy) != read_digest(copy)
