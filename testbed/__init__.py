"""vpclab: the AWS VPC data plane on Mininet + Open vSwitch + an OpenFlow controller.

    lab.py                the Python API (`with Lab('topologies/x.yaml') as lab:`), used by all below
    management_client.py  the client of the controller's management API (`lab.api`)
    security_groups.py, flowlogs.py   a running lab's security groups and flow logs
    topology/             the topology file: loading, validation, placement
    fabric/               physical hosts, underlay, instances, the controller process (Mininet + OVS)
    commands/             what a user types: the `vpclab` CLI, the `vpclab up` shell, the demo
    observe/              captures, journeys and probes, crafted packets, a bridge's flows
    appliances/           packet-loop appliances (Blackfoot, Hyperplane), to come
    bench/                the experiment framework (the experiments are in experiments/)
"""


def __getattr__(name):
    # `from testbed import Lab` without importing Mininet for pure-logic users
    if name == 'Lab':
        from testbed.lab import Lab
        return Lab
    raise AttributeError(name)
