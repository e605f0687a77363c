"""Two edge nodes (`edge: {nodes: 2}`): each has its own underlay address, cable and packet loop;
the router spreads igw and vpce: traffic over them by the instance's address, the internet router
spreads replies by flow, and the VPN stays on the first node (topologies/gateways.yaml, web-2 given
an elastic IP too: 10.0.1.10 leaves by edge1, 10.0.1.11 by edge2)."""
import pytest
from conftest import topology
from edge_helpers import curl, echo_server

from testbed.fabric import edge_plan
from testbed.lab import Lab

INTERNET = '198.51.100.10'


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    with open(topology('gateways.yaml')) as f:
        text = f.read()
    text = text.replace('mtu: 9001\n', 'mtu: 9001\nedge: {nodes: 2}\n', 1)
    text = text.replace('      app-eip: {instance: app-1}\n', '      app-eip: {instance: app-1}\n'
                        '      web2-eip: {instance: web-2}\n', 1)
    path = tmp_path_factory.mktemp('edge-nodes') / 'gateways-2.yaml'
    path.write_text(text)
    with Lab(str(path)) as lab:
        yield lab


def eip(lab, name):
    return lab.topology.vpcs['blue'].elastic_ips[name].address


def test_each_node_has_its_own_loop_and_both_carry_internet_traffic(lab):
    with echo_server(lab.node('example-web')):
        for instance, name in (('web-1', 'web-eip'), ('web-2', 'web2-eip')):
            assert curl(lab.node(instance), f'http://{INTERNET}/') == (0, eip(lab, name))
    nodes = lab.edge_counters()['nodes']
    assert set(nodes) == {'edge1', 'edge2'}
    assert all(n['handler'].get('out:internet', 0) > 0 for n in nodes.values()), nodes


def test_the_internet_reaches_both_elastic_ips_whichever_node_the_reply_takes(lab):
    for instance, name in (('web-1', 'web-eip'), ('web-2', 'web2-eip')):
        with echo_server(lab.node(instance)):
            for _ in range(4):          # several flows: the internet router hashes each onto a node
                assert curl(lab.node('example-web'), f'http://{eip(lab, name)}/') == (0, INTERNET)


def test_counters_for_another_terminal_are_in_the_run_directory(lab):
    lab.edge_counters()                 # asking makes every node write its file now
    nodes = edge_plan.read_counters(lab.run_dir)
    assert set(nodes) == {'edge1', 'edge2'} and all('handler' in n for n in nodes.values())


def test_the_vpn_and_the_endpoint_still_work(lab):
    assert ' 2 received' in lab.node('app-1').cmd('ping -c2 -W1 192.168.1.10')
    rc, out = curl(lab.node('app-1'), 'http://198.18.0.10/', '-i', '--no-styled-output')
    assert rc == 0 and 'x-vpclab-source-ip: 10.0.2.10' in out.lower(), out
