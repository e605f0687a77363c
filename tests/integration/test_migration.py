"""Migration of a running instance: the mapping service invalidates and refreshes every
cache that holds it, and a ping running through it loses only a few packets."""
import subprocess

import pytest
from conftest import topology

from controllers import pipeline as P
from testbed.lab import Lab
from testbed.observe import journey


@pytest.mark.parametrize('mode', ['proactive', 'reactive'])
def test_migration_keeps_traffic_flowing(mode):
    with Lab(topology('two-tenants.yaml'), mode=mode) as lab:
        topo = lab.topology
        a, b = topo.instance('blue-1'), topo.instance('blue-4')
        assert journey.ping(lab.node(a.name), b.ip, count=2)[0] == 2
        pinger = lab.node(a.name).popen(['ping', '-n', '-c', '100', '-i', '0.02', b.ip],
                                        stdout=subprocess.PIPE, text=True)
        lab.wait_until(lambda: journey.flow_packets(lab, a.host, P.MAPPING, [f'nw_dst={b.ip}']) > 5,
                       what='the ping to be under way')
        record = lab.migrate(b.name, 'r1-h2')
        out = pinger.communicate()[0]
        received = journey.ping_totals(out)[1]
        assert received >= 80, out          # bounded loss: at most 20 of 100
        assert lab.host_of(b.name) == 'r1-h2'
        entry = next(e for e in lab.api.mappings() if e['instance'] == b.name)
        assert entry['host'] == 'r1-h2' and entry['version'] == 2
        for host in topo.hosts:
            cached = [e for e in lab.api.cache(host)['cache'] if e['instance'] == b.name]
            assert all(e['host'] == 'r1-h2' and e['version'] == 2 for e in cached), host
        assert record['seconds'] < 5
        # traffic still flows in both directions, also to the other tenant's twin IP
        assert journey.ping(lab.node(b.name), a.ip, count=2)[0] == 2
        assert journey.ping(lab.node('red-1'), topo.instance('red-4').ip, count=2)[0] == 2
        assert lab.api.metrics()['mapping']['invalidations'] >= 1
