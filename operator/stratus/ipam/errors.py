"""Why an address could not be handed out; each becomes a condition on the Server asking."""

from stratus.api.server import ServerCondition
from stratus.core.errors import Conflict, InvalidInput, StratusError

ALLOCATING = ServerCondition.ADDRESSES_ALLOCATED


class InvalidSubnet(InvalidInput):
    """The subnet passed the API server's checks but cannot be allocated from."""

    condition = ALLOCATING

    def __init__(self, network: str, problems: list[str]) -> None:
        super().__init__("InvalidSubnet", f"network {network}: {'; '.join(problems)}")
        self.problems = problems


class InvalidFixedIp(InvalidInput):
    """A requested fixed IP that no interface of this subnet may have."""

    condition = ALLOCATING


class AddressInUse(Conflict):
    """The requested fixed IP is held by someone else."""

    condition = ALLOCATING

    def __init__(self, address: str, network: str, holder: str) -> None:
        super().__init__(
            "FixedIpInUse",
            f"fixed IP {address} on network {network} is held by {holder}; "
            "choose another address or release it there first",
        )
        self.address = address
        self.holder = holder


class NetworkFull(StratusError):
    """Every allocatable address is held; one frees up when a holder goes away."""

    condition = ALLOCATING

    retry_after = 60.0

    def __init__(self, network: str, capacity: int, pools: str) -> None:
        super().__init__(
            "NetworkFull",
            f"network {network} has no free address: all {capacity} addresses of "
            f"{pools} are held; delete a Server on it or widen its allocation pools",
        )
        self.capacity = capacity
