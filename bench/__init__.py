"""The Stratus benchmark: Rally-style scenarios run against the local control plane, with the
operator as it is deployed, measured by the API server's audit log and the operator's metrics.

It is part of the project, not of the test suite: `make bench` runs it, `docs/performance.md`
explains its figures."""
