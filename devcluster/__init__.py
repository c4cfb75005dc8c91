"""The local control plane Stratus is developed and tested against.

Real etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK nodes and MinIO,
built from Go modules; only the VM data plane is simulated (see `simulator`).
"""
