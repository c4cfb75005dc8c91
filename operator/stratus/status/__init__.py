"""What children's status says about their parents: pure readers of KubeVirt, CDI and Pod
status, shared by the handlers that report it."""
