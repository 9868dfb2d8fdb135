"""Every error code of the gateway has its exception class, and real answers map to them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from deepfake_client import Client, errors

from gateway import errors as gateway_errors
from gateway.api import error_responses
from tests.conftest import GatewayHandle


def _gateway_codes() -> dict[str, int]:
    codes: dict[str, int] = {}
    stack = [gateway_errors.GatewayError]
    while stack:
        cls = stack.pop()
        codes[cls.code] = cls.status_code
        stack.extend(cls.__subclasses__())
    for status, code in error_responses.ROUTING_CODES.items():
        codes[code] = status
    return codes


def test_every_gateway_code_has_a_class_of_the_same_name() -> None:
    by_name = {cls.__name__: cls for cls in errors.ERRORS_BY_CODE.values()}
    for code in _gateway_codes():
        assert code in errors.ERRORS_BY_CODE, f"no SDK class for {code}"
    stack = [gateway_errors.GatewayError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls is gateway_errors.GatewayError:
            continue
        if cls.__name__ in by_name:
            assert by_name[cls.__name__].default_code == cls.code, cls.__name__


def test_the_exception_tree_in_the_docstring_names_every_class_and_code() -> None:
    doc = errors.__doc__ or ""
    for code, cls in errors.ERRORS_BY_CODE.items():
        assert f"{cls.__name__} " in doc and f" {code}" in doc, code
    for code, status in _gateway_codes().items():
        assert f"{status} {code}" in doc, f"{code} should be documented as {status}"


def test_unknown_codes_become_the_base_class_with_their_code() -> None:
    exc = errors.error_for(418, "teapot", "short and stout")
    assert type(exc) is errors.ApiError
    assert (exc.code, exc.status, exc.message) == ("teapot", 418, "short and stout")


def test_an_answer_without_an_error_body_keeps_its_status_as_code() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    with (
        Client("https://gw.test", transport=httpx.MockTransport(handler)) as client,
        pytest.raises(errors.ApiError) as caught,
    ):
        client.models.list()
    assert (caught.value.code, caught.value.status) == ("http_502", 502)


def test_a_wrong_api_key_is_invalid_api_key(gateway: GatewayHandle, make_clip) -> None:
    with (
        Client(gateway.url, api_key="not-the-key", ca_cert=gateway.cafile) as client,
        pytest.raises(errors.InvalidApiKey) as caught,
    ):
        client.detect(make_clip())
    assert caught.value.status == 403
    assert caught.value.request_id


def test_no_api_key_is_missing_api_key(gateway: GatewayHandle) -> None:
    with (
        Client(gateway.url, api_key="", ca_cert=gateway.cafile) as client,
        pytest.raises(errors.MissingApiKey),
    ):
        client.models.list()


def test_a_file_that_is_no_video_is_invalid_video(client: Client, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"these are not the frames you are looking for\n" * 100)
    with pytest.raises(errors.InvalidVideo) as caught:
        client.detect(text)
    assert (caught.value.status, caught.value.code) == (415, "invalid_video")


def test_bad_parameters_and_unknown_versions_map_to_their_classes(
    client: Client, make_clip
) -> None:
    clip = make_clip()
    with pytest.raises(errors.InvalidParameters):
        client.detect(clip, model_version=1, model_label="stable")
    with pytest.raises(errors.ModelNotFound):
        client.detect(clip, model_version=99)
