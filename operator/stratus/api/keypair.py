"""KeyPair: a Nova keypair, an SSH public key Servers receive through cloud-init."""

from pydantic import Field

from stratus.api.common import Model, Status, immutable
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn

KEY_LINE_RULE = (
    "self.matches('^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384"
    "|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,2}( [^\\\\n]*)?\\\\s*$')"
)


class KeyPairSpec(Model):
    public_key: str = Field(
        min_length=1,
        max_length=16384,
        description="An OpenSSH public key line: ssh-ed25519, ssh-rsa (2048 bits or more) or "
        "ecdsa-sha2-nistp256/384/521, the base64 key, and an optional comment. Immutable.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": KEY_LINE_RULE,
                    "message": "publicKey must be one OpenSSH public key line: "
                    "'ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|384|521 <base64> [comment]'",
                },
                immutable("publicKey"),
            ]
        },
    )


class KeyPairStatus(Status):
    fingerprint: str | None = Field(
        default=None, description="SHA256 fingerprint, as ssh-keygen -l."
    )
    type: str | None = Field(default=None, description="The key type, for example ssh-ed25519.")
    bits: int | None = Field(default=None, description="The key size in bits.")


KEYPAIR = Kind(
    kind="KeyPair",
    plural="keypairs",
    scope="Namespaced",
    short_names=("kp",),
    spec=KeyPairSpec,
    status=KeyPairStatus,
    description="An SSH public key (Nova keypair) that Servers receive through cloud-init.",
    columns=(
        PrinterColumn("Fingerprint", ".status.fingerprint"),
        PrinterColumn("Type", ".status.type", priority=1),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
)
