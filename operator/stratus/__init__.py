"""Stratus: an OpenStack-style cloud hosted on Kubernetes as custom resources."""
