"""KeyPair handlers: check the key down to its material and show its fingerprint."""

from typing import Any

import kopf

from stratus.api.keypair import KEYPAIR, KeyPairSpec
from stratus.constants import GROUP, VERSION
from stratus.core.errors import InvalidInput
from stratus.core.parents import own_pass
from stratus.core.reconcile import Outcome, parse_spec
from stratus.sshkeys import InvalidKey, parse_public_key


@kopf.on.resume(GROUP, VERSION, KEYPAIR.plural)
@kopf.on.create(GROUP, VERSION, KEYPAIR.plural)
@kopf.on.update(GROUP, VERSION, KEYPAIR.plural)
def keypair_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(KEYPAIR, body, check_keypair)


def check_keypair(body: kopf.Body) -> Outcome:
    spec = parse_spec(KeyPairSpec, body)
    try:
        key = parse_public_key(spec.public_key)
    except InvalidKey as error:
        raise InvalidInput("InvalidPublicKey", f"publicKey is not usable: {error}") from error
    return Outcome(
        phase="Active",
        message=f"{key.type} key {key.fingerprint}",
        fields={"fingerprint": key.fingerprint, "type": key.type, "bits": key.bits},
    )
