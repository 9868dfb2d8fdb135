"""End-to-end fixtures: the gateway factory is shared with the gateway tests."""

from tests.gateway.conftest import gateway_factory

__all__ = ["gateway_factory"]
