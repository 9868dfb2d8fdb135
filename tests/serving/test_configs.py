"""The production config files in serving/ parse with TF Serving's message definitions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving import config as cfg
from serving.tls import render_ssl_config

SERVING = Path(__file__).resolve().parents[2] / "serving"
LABEL = re.compile(r"^[a-zA-Z0-9_]+$")  # serving_config.md: label charset


def test_models_config_parses_with_policy_and_labels():
    config = cfg.read_text(SERVING / "models.config", model_server_config_pb2.ModelServerConfig)
    (model,) = config.model_config_list.config
    assert model.name == "deepfake"
    assert model.base_path.startswith("/")  # server_core.cc rejects relative base paths
    assert model.model_platform == "tensorflow"
    assert model.model_version_policy.WhichOneof("policy_choice") == "specific"
    versions = set(model.model_version_policy.specific.versions)
    assert set(model.version_labels) == {"stable", "canary"}
    assert all(LABEL.match(label) for label in model.version_labels)
    # Every label names a version the policy keeps loaded.
    assert set(model.version_labels.values()) <= versions
    assert model.version_labels["stable"] < model.version_labels["canary"]


def test_batching_config_parses_and_passes_tf_serving_checks():
    params = cfg.read_text(SERVING / "batching.config", cfg.BatchingParameters)
    options = cfg.BatchingOptions.from_proto(params)
    assert options.allowed_batch_sizes[-1] == options.max_batch_size
    assert list(options.allowed_batch_sizes) == sorted(set(options.allowed_batch_sizes))
    # Sized for frame batches: a 32-frame video request fits, and sizes are multiples of it.
    assert options.max_batch_size >= 32
    assert all(size % 32 == 0 for size in options.allowed_batch_sizes)
    assert options.pad_variable_length_inputs is False
    assert options.num_batch_threads >= 1 and options.max_enqueued_batches >= 1


def test_monitoring_config_enables_prometheus_at_tf_serving_path():
    config = cfg.read_text(SERVING / "monitoring.config", cfg.MonitoringConfig)
    assert config.prometheus_config.enable
    assert cfg.prometheus_path(config) == "/monitoring/prometheus/metrics"


def test_ssl_template_parses_and_renders_pem_text(tls_material):
    template = (SERVING / "ssl.config.template").read_text()
    as_is = cfg.parse_text(template, cfg.SSLConfig)
    assert as_is.server_key == "SERVER_KEY_PEM"
    rendered = render_ssl_config(
        template,
        tls_material.server_key,
        tls_material.server_cert,
        tls_material.ca_cert,
        client_verify=True,
    )
    config = cfg.parse_text(rendered, cfg.SSLConfig)
    assert config.server_key == tls_material.server_key
    assert config.server_cert == tls_material.server_cert
    assert config.custom_ca == tls_material.ca_cert
    assert config.client_verify is True
    assert "-----BEGIN CERTIFICATE-----" in config.server_cert


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (cfg.BatchingParameters, "max_batch_sise { value: 8 }"),
        (cfg.BatchingParameters, "max_batch_size: 8"),
        (cfg.MonitoringConfig, "prometheus_config { enabled: true }"),
        (cfg.SSLConfig, "client_verify: maybe"),
        (model_server_config_pb2.ModelServerConfig, "model_config_list { config { nme: 'x' } }"),
    ],
)
def test_typos_fail(message, text):
    with pytest.raises((cfg.ConfigError, text_format.ParseError)):
        cfg.parse_text(text, message)


def test_field_numbers_match_tf_serving_wire_format():
    """Wire bytes of each field are those of TF Serving's .proto numbering."""
    params = cfg.BatchingParameters()
    params.max_batch_size.value = 5  # field 1, Int64Value{value: 5}
    params.allowed_batch_sizes.append(5)  # field 6, packed
    params.pad_variable_length_inputs = True  # field 7
    assert params.SerializeToString() == b"\x0a\x02\x08\x05" + b"\x32\x01\x05" + b"\x38\x01"
    ssl = cfg.SSLConfig(server_key="k", client_verify=True)
    assert ssl.SerializeToString() == b"\x0a\x01k" + b"\x20\x01"
    monitoring = cfg.MonitoringConfig()
    monitoring.prometheus_config.path = "/p"
    assert monitoring.SerializeToString() == b"\x0a\x04\x12\x02/p"
    assert cfg.SSLConfig.DESCRIPTOR.full_name == "tensorflow.serving.SSLConfig"
    assert cfg.BatchingParameters.DESCRIPTOR.full_name == "tensorflow.serving.BatchingParameters"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_batch_size { value: 64 } allowed_batch_sizes: 32", "must match max_batch_size"),
        (
            "max_batch_size { value: 64 } allowed_batch_sizes: 32 allowed_batch_sizes: 16 "
            "allowed_batch_sizes: 64",
            "monotonically increasing",
        ),
    ],
)
def test_batching_rules_of_tf_serving(text, message):
    params = cfg.parse_text(text, cfg.BatchingParameters)
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.BatchingOptions.from_proto(params)


def test_batching_defaults_are_tensorflows():
    options = cfg.BatchingOptions.from_proto(cfg.BatchingParameters())
    assert options.max_batch_size == 1000
    assert options.batch_timeout_micros == 0
    assert options.max_enqueued_batches == 10
