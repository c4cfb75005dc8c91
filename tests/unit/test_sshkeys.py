"""KeyPair keys are checked down to their material and fingerprinted exactly as ssh-keygen does."""

import base64
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from stratus.sshkeys import InvalidKey, parse_public_key

KEYGEN = shutil.which("ssh-keygen")
needs_keygen = pytest.mark.skipif(KEYGEN is None, reason="ssh-keygen is not installed")


def generate(tmp_path: Path, *args: str) -> str:
    key = tmp_path / "id"
    subprocess.run(
        [KEYGEN or "", "-q", "-N", "", "-C", "alice@laptop", "-f", str(key), *args], check=True
    )
    return (tmp_path / "id.pub").read_text()


def keygen_fingerprint(public: str, tmp_path: Path) -> str:
    path = tmp_path / "check.pub"
    path.write_text(public)
    out = subprocess.run(
        [KEYGEN or "", "-l", "-E", "sha256", "-f", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()[1]


@needs_keygen
@pytest.mark.parametrize(
    ("args", "key_type", "bits"),
    [
        (("-t", "ed25519"), "ssh-ed25519", 256),
        (("-t", "rsa", "-b", "3072"), "ssh-rsa", 3072),
        (("-t", "ecdsa", "-b", "256"), "ecdsa-sha2-nistp256", 256),
        (("-t", "ecdsa", "-b", "384"), "ecdsa-sha2-nistp384", 384),
        (("-t", "ecdsa", "-b", "521"), "ecdsa-sha2-nistp521", 521),
    ],
)
def test_real_keys_parse_with_the_fingerprint_ssh_keygen_shows(
    tmp_path: Path, args: tuple[str, ...], key_type: str, bits: int
) -> None:
    public = generate(tmp_path, *args)
    key = parse_public_key(public)
    assert (key.type, key.bits, key.comment) == (key_type, bits, "alice@laptop")
    assert key.fingerprint == keygen_fingerprint(public, tmp_path)


@needs_keygen
def test_short_rsa_keys_are_refused(tmp_path: Path) -> None:
    public = generate(tmp_path, "-t", "rsa", "-b", "1024")
    with pytest.raises(InvalidKey, match="1024 bits; at least 2048"):
        parse_public_key(public)


def wire(*fields: bytes) -> str:
    return base64.b64encode(b"".join(struct.pack(">I", len(f)) + f for f in fields)).decode()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ssh-ed25519", "expected '<type> <base64 key> [comment]'"),
        ("ssh-dss AAAAB3NzaC1kc3M=", "unsupported key type 'ssh-dss'"),
        ("ssh-ed25519 not*base64", "not valid base64"),
        (f"ssh-rsa {wire(b'ssh-ed25519', bytes(32))}", "does not encode a ssh-rsa key"),
        (f"ssh-ed25519 {wire(b'ssh-ed25519', bytes(31))}", "32 bytes"),
        (f"ssh-ed25519 {wire(b'ssh-ed25519')[:-4]}", "truncated"),
        (
            f"ecdsa-sha2-nistp256 {wire(b'ecdsa-sha2-nistp256', b'nistp384', bytes(65))}",
            "nistp256 point",
        ),
    ],
)
def test_malformed_keys_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(InvalidKey, match=re.escape(reason)):
        parse_public_key(text)
