"""`make soak`: the chaos soak on the local cluster, its counts printed and written to JSON."""

import argparse
import json
import sys
from pathlib import Path

from devcluster.cluster import State, install, up
from devcluster.operator import OperatorProcess, refuse_a_second_operator
from soak.invariants import breached
from soak.run import Plan, soak


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--state", type=Path, required=True, help="the local cluster's state")
    parser.add_argument("--objects", type=int, default=Plan.objects)
    parser.add_argument("--minutes", type=float, default=Plan.seconds / 60)
    parser.add_argument("--seed", type=int, default=Plan.seed)
    parser.add_argument("--output", type=Path, default=Path("soak/results.json"))
    args = parser.parse_args()
    state = State(args.state.resolve())
    up(state)
    install(state)
    refuse_a_second_operator(state, "the soak")
    operator = OperatorProcess(
        log=state.logs / "soak-operator.log",
        state=state,
        config=state.operator_config,
        verbose=False,
    )
    operator.start()
    try:
        results = soak(state, operator, Plan(args.objects, args.minutes * 60, args.seed))
    finally:
        operator.stop()
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["counts"], indent=2))
    for breach in results["breaches"]:
        print(f"  {breach}")
    print(f"written to {args.output}")
    failed = bool(breached(results["counts"]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
