"""Journeys of the isolation fixes (issue 14 items 2-4), through the fake switch: VLAN-tagged
frames, fragments under a network ACL, peered traffic routed by the route table, conntrack
commits after the last drop, metered packet-ins and the negative cache of reactive misses."""
import ipaddress
import pathlib

import pytest
from test_journeys import PORT, World, tcp

from controllers import pipeline as P
from controllers.router import route_table
from testbed.fabric import firewall_config
from testbed.topology.loader import load

ROOT = pathlib.Path(__file__).resolve().parents[2]

# ---- item 4: VLAN-tagged frames, fragments and the network ACL ---------------------------------


def test_a_vlan_tagged_frame_from_an_instance_is_unsupported_even_from_its_own_addresses():
    w = World()
    assert w.send('web-1', ipv4_dst='10.0.1.11', **tcp(80)).verdict == 'tunnel to 100.127.0.3, VNI 100'
    tagged = w.send('web-1', vlan_vid=0x1000 | 7, ipv4_dst='10.0.1.11', **tcp(80))
    assert tagged.verdict == 'dropped: unsupported-protocol at CLASSIFY' and not tagged.packet_ins
    assert w.send('web-1', vlan_vid=0x1000, arp_op=1, arp_tpa='10.0.1.1').verdict == \
        'dropped: unsupported-protocol at CLASSIFY'


def test_a_tagged_frame_from_the_tunnel_is_dropped_before_the_check():
    w = World()
    j = w.send('web-1', ipv4_dst='10.0.1.11', **tcp(80))
    _, there = w.receive(j, 'h1', vlan_vid=0x1000 | 7)
    assert there.verdict == 'dropped: unsupported-protocol at CHECK' and not there.packet_ins


def test_an_acl_deny_on_one_port_leaves_the_later_fragments_of_other_ports_alone():
    """subnet-b's ACL denies tcp 22 from subnet-a (rule 100) and allows the rest (rule 200)."""
    w = World()
    later_fragment = dict(ipv4_dst='10.0.2.20', ip_proto=6, ip_frag=3)
    assert w.send('web-1', ipv4_dst='10.0.2.20', **tcp(22)).verdict == 'dropped: network-acl at INGRESS_NACL'
    j = w.send('web-1', **later_fragment)
    assert 'INGRESS_NACL' in j.stages and j.verdict == f'out port {PORT["db-1"]}'
    first_fragment = dict(tcp(5432), ip_frag=1)
    assert w.send('web-1', ipv4_dst='10.0.2.20', **first_fragment).verdict == f'out port {PORT["db-1"]}'
    assert w.send('web-1', ipv4_dst='10.0.2.20', **dict(tcp(22), ip_frag=1)).verdict == \
        'dropped: network-acl at INGRESS_NACL'


def test_later_fragments_still_need_a_security_group_rule_of_their_protocol():
    w = World()
    assert w.send('web-1', ipv4_dst='10.0.2.20', ip_proto=17, ip_frag=3).verdict == \
        'dropped: security-group at INGRESS_SG_RULES'


# ---- item 2: a hub peered with two spokes that share addresses ---------------------------------

HUB, SPOKE_A, SPOKE_B = 300, 301, 302


def routes(*extra):
    return [dict(destination='10.0.0.0/16', target='local') if not extra or extra[0] != 'spoke' else
            dict(destination='10.1.0.0/16', target='local')] + [r for r in extra if r != 'spoke']


HUB_SUBNETS = {
    'hub-a': dict(index=1, vni=HUB, cidr='10.0.1.0/24', flow_logs=False, acl=None,
                  routes=routes(dict(destination='10.1.0.0/17', target='pcx:hub-a', vni=SPOKE_A),
                                dict(destination='10.1.128.0/17', target='pcx:hub-b', vni=SPOKE_B))),
    'a-a': dict(index=2, vni=SPOKE_A, cidr='10.1.0.0/16', flow_logs=False, acl=None,
                routes=routes('spoke', dict(destination='10.0.0.0/16', target='pcx:hub-a', vni=HUB))),
    'b-a': dict(index=3, vni=SPOKE_B, cidr='10.1.0.0/16', flow_logs=False, acl=None,
                routes=routes('spoke', dict(destination='10.0.0.0/16', target='pcx:hub-b', vni=HUB))),
}
OPEN = dict(inbound=[dict(protocol=None, ports=None, peer='0.0.0.0/0', number=None, action='allow')],
            outbound=[dict(protocol=None, ports=None, peer='0.0.0.0/0', number=None, action='allow')])
HUB_INSTANCES = {'hub-1': (HUB, '10.0.1.10', 'h1', 'hub-a', 'open'),
                 'hub-2': (HUB, '10.0.1.11', 'h2', 'hub-a', 'open'),
                 'a-low': (SPOKE_A, '10.1.0.10', 'h2', 'a-a', 'open'),     # the same address in both spokes,
                 'b-low': (SPOKE_B, '10.1.0.10', 'h2', 'b-a', 'open'),     # on the same host
                 'a-high': (SPOKE_A, '10.1.200.10', 'h3', 'a-a', 'open'),
                 'b-high': (SPOKE_B, '10.1.200.10', 'h3', 'b-a', 'open')}


def hub_world(mode='proactive'):
    return World(mode, instances=HUB_INSTANCES, subnets=HUB_SUBNETS,
                 groups={vni: {'open': OPEN} for vni in (HUB, SPOKE_A, SPOKE_B)},
                 peers={HUB: {SPOKE_A, SPOKE_B}, SPOKE_A: {HUB}, SPOKE_B: {HUB}})


def settle(w, host, j):
    """Follow a journey through the controller (reactive misses) until the switch decides it."""
    for _ in range(3):
        if not j.packet_ins or j.outputs:
            return j
        outcome = w.packet_in(host, j)
        w.switches[host].apply(outcome.messages)
        (again,) = [m for m in outcome.messages if hasattr(m, 'data') and m.data]
        j = w.switches[host].packet_out(again)
    return j


def deliver(w, sender, dst_ip):
    """Where a ping from `sender` to dst_ip ends: (host, port) or the verdict."""
    host = w.instances[sender][2]
    j = settle(w, host, w.send(sender, ipv4_dst=dst_ip, ip_proto=1))
    if j.outputs and j.outputs[0][0] == P.TUNNEL_PORT:
        host, j = w.receive(j, host)
        j = settle(w, host, j)
    return (host, j.outputs[0][0]) if j.outputs else j.verdict


@pytest.mark.parametrize('mode', ['proactive', 'reactive'])
@pytest.mark.parametrize('sender,dst,to', [
    ('hub-1', '10.1.0.10', 'a-low'),       # 10.1.0.0/17 -> pcx:hub-a, across hosts
    ('hub-1', '10.1.200.10', 'b-high'),    # 10.1.128.0/17 -> pcx:hub-b
    ('hub-2', '10.1.0.10', 'a-low'),       # on the host where both spokes have 10.1.0.10
    ('b-low', '10.0.1.11', 'hub-2'),       # and back, from the other spoke
    ('a-high', '10.0.1.10', 'hub-1'),
])
def test_the_hub_s_route_table_decides_which_spoke_gets_a_shared_address(mode, sender, dst, to):
    w = hub_world(mode)
    assert deliver(w, sender, dst) == (w.instances[to][2], w.port[to])


def test_the_hub_s_mapping_flows_are_keyed_by_the_route_s_vpc():
    w = hub_world()
    mapping = [f for f in w.switches['h1'].table(P.MAPPING) if P.cookie_kind(f.cookie) == P.KIND_CACHE]
    shared = {f.match['reg5'][0] for f in mapping if f.match['ipv4_dst'][0] == int(ipaddress.IPv4Address('10.1.0.10'))}
    assert shared == {SPOKE_A, SPOKE_B}
    assert deliver(w, 'hub-1', '10.1.128.10') == 'dropped: no-mapping at MAPPING'   # b has no such address


def test_the_mapping_service_answers_only_for_the_vpc_the_route_chose():
    w = hub_world()
    assert w.table.lookup(HUB, '10.1.0.10', target=SPOKE_B).instance == 'b-low'
    assert w.table.lookup(HUB, '10.1.0.10', target=SPOKE_A).instance == 'a-low'
    assert w.table.lookup(SPOKE_A, '10.1.0.10', target=SPOKE_B) is None       # not a peer of a


def test_the_controller_config_carries_the_vpc_each_peering_route_goes_to():
    topo = load(str(ROOT / 'topologies' / 'isolation.yaml'))
    subnets = firewall_config.subnets(topo)
    vni = {name: v.vni for name, v in topo.vpcs.items()}
    hub = next(s for s in subnets.values() if s['vni'] == vni['hub'])
    for ip in ('10.1.0.10', '10.1.200.10'):
        *_, to = max((e for e in route_table.route_entries(hub['routes'], hub['vni'])
                      if ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(e[1])), key=lambda e: e[0])
        assert to == vni[topo.peered_vpc_for('hub', 'hub-a', ip)]
