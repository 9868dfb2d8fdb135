"""Version discovery, version policies, polling, availability-preserving swaps, load failures."""

from __future__ import annotations

import shutil

import grpc
import pytest

from .conftest import model_config, predict_version, publish, status_of, wait_for

pytestmark = pytest.mark.slow


def test_only_integer_directories_are_versions(tmp_path, tiny_model_dir, start_server):
    base = tmp_path / "deepfake"
    base.mkdir()
    model_dir, _ = tiny_model_dir
    publish(model_dir, base, 2)
    shutil.copytree(model_dir, base / ".tmp-00009")  # staging name: never a version
    shutil.copytree(model_dir, base / "v10")  # not an integer
    shutil.copytree(model_dir, base / "00007")  # parses as 7
    server = start_server("--model_name=deepfake", f"--model_base_path={base}")
    assert server.wait_available() == 7
    with server.channel() as channel:
        assert status_of(channel) == {7: ("AVAILABLE", 0, "")}
        assert predict_version(channel) == 7


def test_version_policies(tmp_path, tiny_model_dir, start_server):
    """latest {num_versions: 2}, all {} and specific {versions} over the same three versions."""
    model_dir, _ = tiny_model_dir
    models = []
    for name, policy in [
        ("latest2", "latest { num_versions: 2 }"),
        ("every", "all {}"),
        ("pinned", "specific { versions: 1 versions: 9 }"),
    ]:
        base = tmp_path / name
        base.mkdir()
        for version in (1, 2, 3):
            publish(model_dir, base, version)
        models.append({"name": name, "base_path": base, "policy": policy})
    config = tmp_path / "models.config"
    config.write_text(model_config(*models))
    server = start_server(f"--model_config_file={config}")
    server.wait_available("latest2")
    with server.channel() as channel:
        assert status_of(channel, "latest2") == {3: ("AVAILABLE", 0, ""), 2: ("AVAILABLE", 0, "")}
        assert predict_version(channel, "latest2") == 3
        assert predict_version(channel, "latest2", version=2) == 2
        with pytest.raises(grpc.RpcError) as info:
            predict_version(channel, "latest2", version=1)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND

        assert set(status_of(channel, "every")) == {1, 2, 3}
        assert {s[0] for s in status_of(channel, "every").values()} == {"AVAILABLE"}
        assert [predict_version(channel, "every", version=v) for v in (1, 2, 3)] == [1, 2, 3]

        # specific: only listed versions present on disk; 9 is missing and only warned about.
        assert status_of(channel, "pinned") == {1: ("AVAILABLE", 0, "")}
        assert predict_version(channel, "pinned") == 1
    assert "Version 9 of servable pinned, which was requested to be served as a 'specific'" in (
        server.log()
    )


def test_new_version_found_by_polling_replaces_old_one_without_a_gap(
    tmp_path, tiny_model_dir, start_server
):
    base = tmp_path / "deepfake"
    base.mkdir()
    model_dir, _ = tiny_model_dir
    publish(model_dir, base, 1)
    server = start_server(
        "--model_name=deepfake", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1"
    )
    assert server.wait_available() == 1
    publish(model_dir, base, 2)
    with server.channel() as channel:
        wait_for(lambda: status_of(channel).get(1, ("",))[0] == "END", what="version 1 END")
        assert status_of(channel) == {2: ("AVAILABLE", 0, ""), 1: ("END", 0, "")}
        assert predict_version(channel) == 2
    log = server.log()
    # AvailabilityPreservingPolicy: 2 is AVAILABLE before 1 starts unloading.
    loaded = log.index("Successfully loaded servable version {name: deepfake version: 2}")
    unloading = log.index("Unloading servable version {name: deepfake version: 1}")
    assert loaded < unloading


def test_failed_load_keeps_serving_version_and_reports_error(
    tmp_path, tiny_model_dir, start_server
):
    base = tmp_path / "deepfake"
    base.mkdir()
    model_dir, _ = tiny_model_dir
    publish(model_dir, base, 1)
    server = start_server(
        "--model_name=deepfake",
        f"--model_base_path={base}",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=0",
    )
    assert server.wait_available() == 1
    # A half-copied version: the graph is there, the variables are not.
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    for data in (broken / "variables").glob("variables.data-*"):
        data.unlink()
    publish(broken, base, 2)
    with server.channel() as channel:
        states = wait_for(
            lambda: (s := status_of(channel)).get(2, ("",))[0] == "END" and s,
            what="version 2 END",
        )
        _, code, message = states[2]
        assert code != 0 and message  # the load error, as GetModelStatus reports it
        assert states[1] == ("AVAILABLE", 0, "")
        assert predict_version(channel) == 1
        with pytest.raises(grpc.RpcError) as info:
            predict_version(channel, version=2)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Loading servable: {name: deepfake version: 2} failed" in server.log()


def test_removed_newest_version_rolls_back(tmp_path, tiny_model_dir, start_server):
    base = tmp_path / "deepfake"
    base.mkdir()
    model_dir, _ = tiny_model_dir
    publish(model_dir, base, 1)
    publish(model_dir, base, 2)
    server = start_server(
        "--model_name=deepfake", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1"
    )
    assert server.wait_available() == 2
    shutil.rmtree(base / "2")
    with server.channel() as channel:
        wait_for(lambda: status_of(channel).get(2, ("",))[0] == "END", what="version 2 END")
        assert status_of(channel)[1] == ("AVAILABLE", 0, "")
        assert predict_version(channel) == 1


def test_server_waits_for_a_first_version(tmp_path, tiny_model_dir, start_server):
    """As TF Serving does, keep polling an empty base path; start once a version lands."""
    base = tmp_path / "deepfake"
    base.mkdir()
    server = start_server(
        "--model_name=deepfake", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1"
    )
    wait_for(lambda: "No versions of servable deepfake found" in server.log(), what="warning")
    assert server.proc.poll() is None
    publish(tiny_model_dir[0], base, 4)
    assert server.wait_available() == 4
