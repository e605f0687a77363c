"""The larger topology (8 physical hosts, 64 instances) comes up, every hypervisor is
programmed, and a sample of same-VPC pairs across AZs and racks can talk."""
import random

from conftest import topology

from testbed.lab import Lab
from testbed.observe import journey


def test_large_topology():
    with Lab(topology('large.yaml')) as lab:
        topo = lab.topology
        assert len(topo.hosts) >= 8 and len(topo.instances()) >= 64
        assert lab.api.status()['ready']
        rnd = random.Random(7)
        insts = topo.instances()
        pairs = 0
        while pairs < 12:
            a, b = rnd.sample(insts, 2)
            reachable = a.vpc == b.vpc or topo.peered(a.vpc, b.vpc)
            if a.host == b.host or (not reachable and a.ip == b.ip):
                continue
            received = journey.ping(lab.node(a.name), b.ip, count=1)[0]
            twin = any(i.ip == b.ip and (i.vpc == a.vpc or topo.peered(a.vpc, i.vpc))
                       for i in insts)
            assert received == (1 if reachable or twin else 0), (a.name, b.name)
            pairs += 1
        assert lab.api.metrics()['ofp_errors'] == []
