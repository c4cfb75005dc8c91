"""Nova's scheduler filters, translated for Kubernetes: can any node hold this Server?"""
