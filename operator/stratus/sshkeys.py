"""OpenSSH public keys: what Nova accepts for a keypair, checked down to the key material."""

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

ECDSA_CURVES = {
    "ecdsa-sha2-nistp256": ("nistp256", 65),
    "ecdsa-sha2-nistp384": ("nistp384", 97),
    "ecdsa-sha2-nistp521": ("nistp521", 133),
}
KEY_TYPES = ("ssh-rsa", "ssh-ed25519", *ECDSA_CURVES)
MIN_RSA_BITS = 2048


class InvalidKey(ValueError):
    """The text is not a public key Stratus can inject; the message says why."""


@dataclass(frozen=True)
class PublicKey:
    type: str
    bits: int
    comment: str
    fingerprint: str


def parse_public_key(text: str) -> PublicKey:
    """Parse one `type base64 [comment]` line, as in authorized_keys, and fingerprint it."""
    parts = text.strip().split(maxsplit=2)
    if len(parts) < 2:
        raise InvalidKey("expected '<type> <base64 key> [comment]' on one line")
    key_type, encoded = parts[0], parts[1]
    if key_type not in KEY_TYPES:
        raise InvalidKey(f"unsupported key type {key_type!r}: use one of {', '.join(KEY_TYPES)}")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise InvalidKey("the key is not valid base64") from error
    fields = _wire_fields(blob)
    if not fields or fields[0] != key_type.encode():
        raise InvalidKey(f"the key material does not encode a {key_type} key")
    bits = _key_bits(key_type, fields[1:])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return PublicKey(key_type, bits, parts[2] if len(parts) > 2 else "", f"SHA256:{digest}")


def _wire_fields(blob: bytes) -> list[bytes]:
    """The length-prefixed strings of the SSH wire format (RFC 4253)."""
    fields, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise InvalidKey("the key material is truncated")
        (length,) = struct.unpack(">I", blob[offset : offset + 4])
        offset += 4
        if offset + length > len(blob):
            raise InvalidKey("the key material is truncated")
        fields.append(blob[offset : offset + length])
        offset += length
    return fields


def _key_bits(key_type: str, fields: list[bytes]) -> int:
    if key_type == "ssh-rsa":
        if len(fields) != 2:
            raise InvalidKey("an ssh-rsa key has an exponent and a modulus")
        bits = int.from_bytes(fields[1], "big").bit_length()
        if bits < MIN_RSA_BITS:
            raise InvalidKey(f"the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required")
        return bits
    if key_type == "ssh-ed25519":
        if len(fields) != 1 or len(fields[0]) != 32:
            raise InvalidKey("an ssh-ed25519 key is 32 bytes")
        return 256
    curve, point_length = ECDSA_CURVES[key_type]
    if len(fields) != 2 or fields[0] != curve.encode() or len(fields[1]) != point_length:
        raise InvalidKey(f"the key is not a valid {curve} point")
    return {"nistp256": 256, "nistp384": 384, "nistp521": 521}[curve]
