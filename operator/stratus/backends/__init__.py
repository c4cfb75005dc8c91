"""Clients of systems outside Kubernetes that Stratus objects live on."""
