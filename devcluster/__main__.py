"""`python -m devcluster up|down|install|status|token [--state DIR] [--person NAME]`: manage
the local control plane, or print the bearer token of one of the people it knows."""

import argparse
from pathlib import Path

from devcluster import pki
from devcluster.cluster import State, down, install, running, up


def main() -> None:
    parser = argparse.ArgumentParser(prog="devcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "install", "status", "token"])
    parser.add_argument("--state", type=Path, default=Path(".stratus"), help="state directory")
    parser.add_argument("--person", default="alice", choices=sorted(pki.PEOPLE), help="for token")
    args = parser.parse_args()
    state = State(args.state.resolve())
    if args.command == "up":
        up(state)
    elif args.command == "install":
        install(state)
    elif args.command == "down":
        down(state)
    elif args.command == "token":
        print(pki.token_of(state.pki, args.person))
    else:
        alive = running(state)
        print("\n".join(f"{name}: pid {pid}" for name, pid in alive.items()) or "not running")


if __name__ == "__main__":
    main()
