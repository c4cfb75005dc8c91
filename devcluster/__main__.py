"""`python -m devcluster up|down|install|status [--state DIR]`: manage the local control plane."""

import argparse
from pathlib import Path

from devcluster.cluster import State, down, install, running, up


def main() -> None:
    parser = argparse.ArgumentParser(prog="devcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "install", "status"])
    parser.add_argument("--state", type=Path, default=Path(".stratus"), help="state directory")
    args = parser.parse_args()
    state = State(args.state.resolve())
    if args.command == "up":
        up(state)
    elif args.command == "install":
        install(state)
    elif args.command == "down":
        down(state)
    else:
        alive = running(state)
        print("\n".join(f"{name}: pid {pid}" for name, pid in alive.items()) or "not running")


if __name__ == "__main__":
    main()
