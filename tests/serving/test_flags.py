"""Flags: TF Serving's names and defaults, both ``--flag=value`` and ``--flag value``."""

from __future__ import annotations

import os

import pytest

from serving.flags import parse_flags


def test_defaults_are_tf_servings():
    flags = parse_flags(["--model_base_path=/models/deepfake"])
    assert flags.port == 8500
    assert flags.rest_api_port == 0
    assert flags.model_name == "default"
    assert flags.model_config_file_poll_wait_seconds == 0
    assert flags.file_system_poll_wait_seconds == 1
    assert flags.allow_version_labels_for_unavailable_models is False
    assert flags.enable_batching is False
    assert flags.enable_model_warmup is True
    assert flags.max_num_load_retries == 5
    assert flags.load_retry_interval_micros == 60_000_000
    assert flags.rest_api_timeout_in_ms == 30_000


def test_both_flag_syntaxes_and_booleans():
    flags = parse_flags(
        [
            "--port",
            "9000",
            "--model_name=deepfake",
            "--model_base_path",
            "models/deepfake",
            "--enable_batching",
            "--enable_model_warmup=false",
            "--allow_version_labels_for_unavailable_models=true",
        ]
    )
    assert flags.port == 9000
    assert flags.model_name == "deepfake"
    assert flags.model_base_path == os.path.abspath("models/deepfake")
    assert flags.enable_batching is True
    assert flags.enable_model_warmup is False
    assert flags.allow_version_labels_for_unavailable_models is True


@pytest.mark.parametrize(
    "argv",
    [
        [],  # neither a base path nor a config file
        ["--model_base_path=/m", "--batching_parameters_file=/b"],  # file without batching
        ["--model_base_path=/m", "--port=0"],
        ["--model_base_path=/m", "--enable_batching=maybe"],
    ],
)
def test_bad_combinations_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        parse_flags(argv)
    assert info.value.code == 2
