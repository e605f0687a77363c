"""Reactive mode: a miss asks the mapping service, later packets use the cache."""
from conftest import topology

from testbed.lab import Lab
from testbed.observe import journey


def test_first_packet_asks_later_packets_hit_the_cache():
    with Lab(topology('two-tenants.yaml'), mode='reactive') as lab:
        topo = lab.topology
        a, b = topo.instance('blue-1'), topo.instance('blue-4')
        assert lab.api.cache(a.host)['cache'] == []
        assert journey.ping(lab.node(a.name), b.ip, count=1)[0] == 1
        lookups = lab.api.metrics()['mapping']['lookups']
        assert lookups >= 2          # the sender's ARP/route miss, the receiver's check
        assert journey.ping(lab.node(a.name), b.ip, count=5, interval=0.05)[0] == 5
        assert lab.api.metrics()['mapping']['lookups'] == lookups
        cached = {e['instance'] for e in lab.api.cache(a.host)['cache']}
        assert b.name in cached and 'red-4' not in cached
        # the other tenant is untouched by blue's lookups
        assert journey.ping(lab.node('red-1'), topo.instance('red-4').ip, count=2)[0] == 2
