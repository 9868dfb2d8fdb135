"""Throw-away C2PA signing credentials, and clips signed with them by c2pa's own Builder.

C2PA's certificate profile (checked by c2pa-rs when it signs and when it validates): an
end-entity certificate issued by a CA (a self-signed one is refused), with a critical
key usage of digitalSignature, an extended key usage such as emailProtection (never
anyExtendedKeyUsage) and an authority key identifier; the CA carries keyCertSign.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = IPTC + "trainedAlgorithmicMedia"
#: The UUID of the BMFF box that holds a C2PA manifest store.
C2PA_BOX_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")


def _usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=sign_certs,
        crl_sign=sign_certs,
        encipher_only=False,
        decipher_only=False,
    )


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


@dataclass(frozen=True)
class SigningCredentials:
    """A CA certificate and an end-entity certificate and key it issued, as PEM."""

    ca_pem: bytes
    chain_pem: bytes  # end entity first, then the CA
    key_pem: bytes
    common_name: str


def make_credentials(common_name: str, organization: str = "Test Newsroom") -> SigningCredentials:
    """A new one-day CA and an ES256 signing certificate for ``common_name``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{organization} Test CA", organization)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(sign_certs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign_certs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return SigningCredentials(
        ca_pem=ca.public_bytes(pem),
        chain_pem=leaf.public_bytes(pem) + ca.public_bytes(pem),
        key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        common_name=common_name,
    )


def sign_clip(
    source: Path,
    dest: Path,
    credentials: SigningCredentials,
    actions: list[dict],
    *,
    remote_url: str | None = None,
    media_type: str = "video/mp4",
) -> Path:
    """Write ``source`` (an MP4, or a file of ``media_type``) to ``dest`` with a manifest
    declaring ``actions``; with ``remote_url``, the file holds only that URL of the
    manifest, not the manifest."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": "test-generator", "version": "1.0"}],
        "title": source.name,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    info = c2pa.C2paSignerInfo(
        c2pa.C2paSigningAlg.ES256, credentials.chain_pem, credentials.key_pem, None
    )
    with (
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(manifest) as builder,
        open(source, "rb") as src,
        open(dest, "w+b") as out,
    ):
        if remote_url is not None:
            builder.set_no_embed()
            builder.set_remote_url(remote_url)
        builder.sign(signer, media_type, src, out)
    return dest


def flip_media_bytes(source: Path, dest: Path) -> Path:
    """Copy ``source`` with a few bytes of its media data (``mdat``) changed."""
    data = bytearray(source.read_bytes())
    box = data.index(b"mdat") - 4  # the box's 32-bit size comes before its type
    at = box + int.from_bytes(data[box : box + 4], "big") // 2  # amid the coded frames
    for i in range(at, at + 4):
        data[i] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest


def garble_manifest(source: Path, dest: Path) -> Path:
    """Copy ``source`` with the content of its C2PA manifest box overwritten by noise."""
    data = bytearray(source.read_bytes())
    start = data.index(C2PA_BOX_UUID) + len(C2PA_BOX_UUID) + 32
    for i in range(start, start + 400):
        data[i] = (i * 7 + 3) & 0xFF
    dest.write_bytes(bytes(data))
    return dest
