"""The chaos soak: a seeded churn of every kind while the operator, the API server, etcd, the
object store and a node fail, then invariants counted by code."""
