"""Journeys of the isolation fixes (issue 14 items 2-4), through the fake switch: VLAN-tagged
frames, fragments under a network ACL, peered traffic routed by the route table, conntrack
commits after the last drop, metered packet-ins and the negative cache of reactive misses."""
import ipaddress
import pathlib

import pytest
from test_journeys import PORT, World, tcp

from controllers import pipeline as P
from controllers.alerts import AlertLog
from controllers.router import flow_log, mapping, ofp, route_table, security_groups
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


# ---- item 3: what one tenant may cost the others ------------------------------------------------

def instructions(flow, kind):
    return [i for i in flow.instructions if isinstance(i, kind)]


@pytest.mark.parametrize('sender,dst', [('web-1', '10.0.9.5'), ('web-1', '8.8.8.8'), ('web-1', '10.0.1.50'),
                                        ('db-1', '192.168.5.5')])
def test_a_packet_dropped_on_the_sending_side_leaves_no_connection_behind(sender, dst):
    j = World().send(sender, ipv4_dst=dst, **tcp(80))
    assert j.verdict.startswith('dropped') and j.commits == []


def test_a_new_flow_is_committed_once_it_leaves_and_where_it_arrives():
    w = World()
    j = w.send('web-1', ipv4_dst='10.0.1.11', **tcp(80))
    assert j.verdict.startswith('tunnel') and j.commits == [w.table.entry_of('web-1').ident]
    assert j.stages[-1] == 'EGRESS_COMMIT'
    _, there = w.receive(j, 'h1')
    assert there.commits == [w.table.entry_of('web-2').ident]
    assert w.send('web-1', ct='est', ipv4_dst='10.0.1.11', **tcp(80)).commits == []


def meter_of(flow):
    (m,) = instructions(flow, ofp.parser.OFPInstructionMeter)
    return m.meter_id


def test_spoofed_samples_are_metered_per_eni():
    w = World()
    ident = {name: w.table.entry_of(name).ident for name in ('web-1', 'db-1')}
    for name in ident:
        j = w.send(name, ipv4_src='10.0.1.99', ipv4_dst='10.0.1.11')
        assert j.verdict == 'dropped: spoofed-source at CLASSIFY' and j.packet_ins
        assert meter_of(j.trail[-1][1]) == P.eni_alert_meter(ident[name])
    assert P.eni_alert_meter(ident['web-1']) != P.eni_alert_meter(ident['db-1'])


def test_flow_log_packet_ins_are_metered_per_eni_and_the_packet_goes_on():
    w = World()
    j = w.send('web-1', ipv4_dst='10.0.2.20', **tcp(5432))
    assert j.verdict == f'out port {PORT["db-1"]}' and len(j.packet_ins) == 2
    logging = [f for stage, f in j.trail if stage == 'FLOW_LOG']
    meters = [a.meter_id for f in logging for i in f.instructions for a in getattr(i, 'actions', ())
              if getattr(a, 'meter_id', None) is not None]
    assert meters == [P.eni_packet_in_meter(w.table.entry_of(n).ident) for n in ('web-1', 'db-1')]


def test_meters_are_added_once_per_connection_and_reset_when_the_switch_reconnects():
    r = World().routers['h1']
    plug = [m for e in r.local.values() for m in r._meters(e)]
    assert plug == []                                        # added when the ENIs were plugged
    again = r.start()
    mods = [m for m in again if isinstance(m, ofp.parser.OFPMeterMod)]
    assert mods[0].command == ofp.ofp.OFPMC_DELETE and mods[0].meter_id == ofp.ofp.OFPM_ALL
    assert len({m.meter_id for m in mods[1:]}) == len(mods) - 1
    e = next(iter(r.local.values()))
    assert sorted(m.meter_id for m in r._meters(e)) == [P.eni_alert_meter(e.ident), P.eni_packet_in_meter(e.ident)]


@pytest.mark.parametrize('fields,stage,reason', [
    (dict(ipv4_dst='10.0.1.50', **tcp(80)), 'MAPPING', 'no-mapping'),
    (dict(arp_op=1, arp_tpa='10.0.1.77'), 'ARP', 'arp-unknown-target'),
])
def test_reactive_misses_are_metered_per_eni_and_a_miss_is_remembered(fields, stage, reason):
    w = World('reactive')
    j = w.send('web-1', **fields)
    assert j.verdict == f'to the controller at {stage}'
    assert meter_of(j.trail[-1][1]) == P.eni_packet_in_meter(w.table.entry_of('web-1').ident)
    outcome = w.packet_in('h1', j, len(j.packet_ins) - 1)        # after the flow log's, if any
    (negative,) = outcome.messages
    assert negative.hard_timeout == P.NEGATIVE_S
    again = w.switches['h1'].apply(outcome.messages).send(**{**j.packet_ins[-1][2], 'ct_state': 0})
    assert again.verdict == f'dropped: {reason} at {stage}'
    assert [t for t, *_ in again.packet_ins] == [t for t, *_ in j.packet_ins[:-1]]     # not asked again
    assert w.routers['h1'].decided[reason] == 1


def test_a_remembered_miss_does_not_hide_an_instance_that_is_cached_later():
    w = World('reactive')
    j = w.send('web-1', ipv4_dst='10.0.1.11', **tcp(80))
    w.switches['h1'].apply([mapping.negative(100, 100, '10.0.1.11')])
    assert w.switches['h1'].send(**{**j.packet_ins[-1][2], 'ct_state': 0}).verdict == 'dropped: no-mapping at MAPPING'
    w.switches['h1'].apply(w.routers['h1'].cache_add(w.table.entry_of('web-2')))
    assert w.send('web-1', ipv4_dst='10.0.1.11', **tcp(80)).verdict == 'tunnel to 100.127.0.3, VNI 100'


def test_the_alert_log_keeps_the_newest_records_and_counts_the_rest():
    log = AlertLog(limit=3, clock=lambda: 100.0)
    for n in range(5):
        log.raise_alert('h1', 'spoofed-source', f'src-{n}', 'd')
    assert [r['source'] for r in log.list()] == ['src-2', 'src-3', 'src-4'] and log.dropped == 2
    assert log.raise_alert('h1', 'spoofed-source', 'src-0', 'd')['count'] == 1      # a new record again
    assert log.raise_alert('h1', 'spoofed-source', 'src-4', 'd')['count'] == 2      # still folded


def test_flow_log_records_waiting_for_their_interval_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(flow_log, 'MAX_PENDING', 2)
    book = flow_log.FlowLogBook(str(tmp_path / 'log'), [], lambda: 0.0)
    for port in range(4):
        book.count(flow_log.FlowKey(1, P.LOG_ACCEPT, '10.0.0.1', '10.0.0.2', port, 80, 6), 1, 100)
    assert len(book.pending) == 2 and book.skipped == 2


def test_a_metered_packet_in_action_survives_a_round_trip_through_the_parser():
    """Flow statistics replies hold it: os-ken must read back what it wrote (meter_id included)."""
    buf = bytearray()
    ofp.to_controller(128, meter=33).serialize(buf, 0)
    back = ofp.parser.OFPActionExperimenter.parser(bytes(buf), 0)
    assert (back.max_len, back.meter_id, len(buf)) == (128, 33, 32)


def test_every_eni_zone_gets_its_own_limit_never_a_default():
    args = security_groups.zone_limits({7, 3})
    assert args == ['dpctl/ct-set-limits', f'zone=3,limit={P.CT_ZONE_LIMIT}', f'zone=7,limit={P.CT_ZONE_LIMIT}']
    assert not any(a.startswith('default') for a in args)
