"""The hub-and-spokes isolation of test_tenant_isolation.py in reactive mode: the mapping
service's reactive answers follow the route table too, and a flood of misses from one tenant keeps
nobody else from the controller (one lab at a time: a module of its own)."""
from conftest import topology
from test_tenant_isolation import ROUTED, b_connects_during_a_flood, echoes_seen

from testbed.lab import Lab


def test_reactive_mode_delivers_to_the_same_spokes():
    with Lab(topology('isolation.yaml'), mode='reactive') as lab:
        for sender, ip, right, wrong in ROUTED:
            answered, seen = echoes_seen(lab, sender, ip, (right, wrong))
            assert (answered, seen[right], seen[wrong]) == (3, 3, 0), (sender, ip)
        # a flood of misses from a-1 (addresses spoke-a does not have) keeps nobody else from the controller
        assert b_connects_during_a_flood(lab) == (20, 0)
