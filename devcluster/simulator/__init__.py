"""A SIMULATOR of KubeVirt's and CDI's controllers (and of a CSI driver) for the local cluster.

Nothing on the local cluster can run a virtual machine, so this program plays the data plane,
as seen through the Kubernetes API: a CSI external-provisioner and resizer (`storage`), the CSI
snapshot controllers (`snapshots`), CDI's DataVolume controller (`cdi`), and KubeVirt's
VirtualMachine and VirtualMachineInstance controllers (`kubevirt`, `launcher`) with their
declarative volume hotplug (`hotplug`) and live migration (`migration`), and the kubelet of
Stratus's volume mover pods (`movers`), whose command really runs against the volumes' bytes
(`contents`). The real kube-controller-manager, kube-scheduler and KWOK do the rest: they bind
the volumes it provisions, place the virt-launcher pods it creates and mark them Running.

Like those controllers' work queues, it reconciles an object in one thread at a time
(`kube.one_at_a_time`), however many watched kinds' events lead to it.

It is test tooling of `devcluster/`, started by `python -m devcluster up`. The Stratus operator
never depends on it: in a real cluster, KubeVirt, CDI and a CSI driver do this work.
"""
