"""The upload's content credentials as the answer reports them (a response model).

Read and summarised by :mod:`gateway.pipeline.provenance`; a model of its own so that
:mod:`gateway.schemas`, on the ground floor, can carry it without the reader.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Provenance(BaseModel):
    """The upload's content credentials (its C2PA manifest store), as read and validated.

    Reported beside the verdict and never part of the score: a valid manifest tells who
    signed the file and what they declared about it, not whether its content is real; a
    missing one proves nothing.
    """

    present: bool = Field(description="The file carries a C2PA manifest store.")
    valid: bool | None = Field(
        None,
        description="The active manifest's signature and its hashes of the assertions and "
        "of the media validate; null when none was validated (absent, only at a URL, too "
        "large, time limit).",
    )
    trusted: bool | None = Field(
        None,
        description="The signing certificate chains to one of the gateway's trust anchors "
        "(GATEWAY_C2PA_TRUST_ANCHORS); null when none are configured or nothing was validated.",
    )
    signer: str | None = Field(
        None,
        description="Who signed: the signing certificate's common name, else its organization.",
    )
    claim_generator: str | None = Field(
        None, description="The software that made the active manifest, as 'name/version'."
    )
    signed_at: str | None = Field(
        None,
        description="When the signature was made, from a time-stamp authority's countersignature "
        "(RFC 3339); null without one.",
    )
    digital_source_types: list[str] = Field(
        default_factory=list,
        description="IPTC digital source types (URIs) declared by the actions and metadata "
        "assertions of every manifest in the store.",
    )
    ai_generated: bool = Field(
        False,
        description="A manifest declares that the content was created by an algorithm: a "
        "c2pa.created action (or its metadata) with source type trainedAlgorithmicMedia, "
        "algorithmicMedia or compositeSynthetic.",
    )
    ai_edited: bool = Field(
        False,
        description="A manifest declares generative edits of other content: source type "
        "compositeWithTrainedAlgorithmicMedia, or an action other than c2pa.created whose "
        "source type is one of the generated ones.",
    )
    validation_errors: list[str] = Field(
        default_factory=list,
        description="C2PA validation status codes of the failures found (e.g. "
        "assertion.bmffHash.mismatch, signingCredential.untrusted); general.error when the "
        "store could not be read at all.",
    )
    error: str | None = Field(
        None,
        description="Why the store could not be read or checked (malformed, unsupported "
        "container, too large to validate, time limit); null when it was.",
    )
