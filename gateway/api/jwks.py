"""``GET /.well-known/jwks.json``: the public keys receipts are verified with."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ..errors import ANY_ROUTE_ERRORS
from ..receipt_keys import ReceiptKeys
from .error_responses import openapi_responses


class Jwk(BaseModel):
    """One public key (RFC 8037 OKP, Ed25519)."""

    kty: str = Field(description="OKP")
    crv: str = Field(description="Ed25519")
    x: str = Field(description="The public key, base64url.")
    kid: str = Field(description="Its id: the RFC 7638 thumbprint; a receipt's header names it.")
    alg: str = Field(description="EdDSA")
    use: str = Field(description="sig")


class Jwks(BaseModel):
    """Every key receipts were signed with, newest (the one signing now) first."""

    keys: list[Jwk]


def jwks_router() -> APIRouter:
    """The route publishing the receipt keys; no API key needed, they are public."""
    router = APIRouter()

    @router.get(
        "/.well-known/jwks.json",
        response_model=Jwks,
        tags=["receipts"],
        responses=openapi_responses(*ANY_ROUTE_ERRORS),
    )
    async def jwks(request: Request) -> Jwks:
        """The public keys of every receipt signing key, old ones kept after rotation."""
        keys: ReceiptKeys = request.app.state.receipt_keys
        return Jwks.model_validate(keys.jwks())

    return router
