"""Whole journeys through the flows the virtual router produces, evaluated by a fake switch
(tests/unit/fakeswitch.py): no root, no OVS.  Each says where a packet ends and why."""
import ipaddress

import pytest
from fakeswitch import FakeSwitch, packet_of, value

from controllers import pipeline as P
from controllers.mapping_table import MappingTable
from controllers.router import ofp
from controllers.router.security_groups import SecurityGroupBook
from controllers.router.virtual_router import VirtualRouter

HOSTS = {'h1': '100.127.0.1', 'h2': '100.127.0.2', 'h3': '100.127.0.3'}
BLUE, RED = 100, 101


def rule(protocol=None, ports=None, peer='0.0.0.0/0', number=None, action='allow'):
    return dict(protocol=protocol, ports=ports, peer=peer, number=number, action=action)


LOCAL = dict(destination='10.0.0.0/16', target='local')
SUBNETS = {
    'subnet-a': dict(index=1, vni=BLUE, cidr='10.0.1.0/24', flow_logs=True, acl=None,
                     routes=[LOCAL, dict(destination='0.0.0.0/0', target='igw'),
                             dict(destination='10.0.9.0/24', target='blackhole')]),
    'subnet-b': dict(index=2, vni=BLUE, cidr='10.0.2.0/24', flow_logs=True, routes=[LOCAL],
                     acl=dict(inbound=[rule(6, [22, 22], '10.0.1.0/24', 100, 'deny'), rule(number=200)],
                              outbound=[rule(number=100)])),
    'subnet-r': dict(index=3, vni=RED, cidr='10.0.1.0/24', flow_logs=False, acl=None, routes=[LOCAL]),
}
GROUPS = {BLUE: {'web': dict(inbound=[rule(6, [80, 80]), rule(1, None, '10.0.0.0/16')], outbound=[rule()]),
                 'db': dict(inbound=[rule(6, [5432, 5432], 'sg:web'), rule(6, [22, 22])], outbound=[rule()])},
          RED: {'open': dict(inbound=[rule()], outbound=[rule()])}}
# name: (vni, ip, host, subnet, group)
INSTANCES = {'web-1': (BLUE, '10.0.1.10', 'h1', 'subnet-a', 'web'),
             'web-2': (BLUE, '10.0.1.11', 'h3', 'subnet-a', 'web'),
             'db-1': (BLUE, '10.0.2.20', 'h1', 'subnet-b', 'db'),
             'red-1': (RED, '10.0.1.10', 'h2', 'subnet-r', 'open')}
MAC = {name: f'0e:00:00:00:00:{n:02x}' for n, name in enumerate(INSTANCES, start=16)}
INNER = ('eth_src', 'eth_dst', 'eth_type', 'ipv4_src', 'ipv4_dst', 'ip_proto', 'tcp_src', 'tcp_dst', 'ip_frag')
PORT = {name: n for n, name in enumerate(INSTANCES, start=1)}       # each host numbers its ports the same


class World:
    """The mapping service's table and one virtual router per host, each with its fake switch.
    groups: the VPCs' security groups; assign: instance -> its groups, if not its INSTANCES one."""

    def __init__(self, mode='proactive', enforce=True, groups=GROUPS, assign=None, instances=INSTANCES,
                 subnets=SUBNETS, peers=None, hyperplane=None):
        self.instances = instances
        self.port = {name: n for n, name in enumerate(instances, start=1)}
        self.table = MappingTable(HOSTS, peers or {vni: set() for vni in groups}, mode)
        self.book = SecurityGroupBook(groups)
        for name, (vni, ip, host, subnet, group) in instances.items():
            self.launch(name, vni, ip, host, subnet, (assign or {}).get(name, (group,)), self.port[name])
        self.routers, self.switches = {}, {}
        for h, ip in HOSTS.items():
            r = self.routers[h] = VirtualRouter(dict(name=h, underlay_ip=ip), self.table.peers, mode, subnets, enforce,
                                                hyperplane)
            sw = self.switches[h] = FakeSwitch().apply(r.start())
            for port in self.port.values():
                sw.apply(r.port_added(f'vl_i{port}', port))
        self.push()

    def launch(self, name, vni, ip, host, subnet, groups, port):
        """Register an instance (push() tells the hosts); each host has ports 1-4."""
        MAC.setdefault(name, f'0e:00:00:00:01:{port:02x}')
        self.table.register(vni=vni, ip=ip, host=host, mac=MAC[name], eni=f'eni-{name}', instance=name,
                            subnet=subnet, gateway_ip=ip.rsplit('.', 1)[0] + '.1', port_name=f'vl_i{port}',
                            security_groups=tuple(groups))

    def push(self, each=None):
        """What the mapping service sends after a change (controllers/apps/mapping_service.py);
        each(): called after every message, to look at the switches half-way."""
        for h, r in self.routers.items():
            plan = self.table.plan(h)
            plan.security_groups, plan.group_members = self.book.changes_for(h, self.table.entries())
            for m in r.apply(plan):
                self.switches[h].apply([m])
                if each:
                    each()
            self.switches[h].check_conjunctions()

    def send(self, name, ct='new', **fields):
        """A packet from instance `name`'s port (where it runs now), by default from its own addresses."""
        e = self.table.entry_of(name)
        port = int(e.port_name[len('vl_i'):])
        fields = {'in_port': port, 'eth_src': e.mac, 'eth_type': 0x0800, 'ipv4_src': e.ip, **fields}
        if 'arp_op' in fields:
            fields = {**fields, 'eth_type': 0x0806, 'arp_spa': e.ip, 'arp_sha': e.mac}
            fields.pop('ipv4_src')
        return self.switches[e.host].send(ct, **fields)

    def rule_flows(self, host):
        """The flows of the two security-group rules tables: {(table, priority, match): Flow}."""
        return {(f.table, f.priority, tuple(sorted(f.match.items()))): f for f in self.switches[host].flows
                if f.table in (P.EGRESS_SG_RULES, P.INGRESS_SG_RULES)}

    def receive(self, journey, sender, **outer):
        """What the host at the tunnel's far end does with the packet `sender` encapsulated;
        `outer` overrides the outer header (tunnel_id, tun_ipv4_src)."""
        port, inner = journey.outputs[0]
        assert port == P.TUNNEL_PORT, journey.verdict
        host = next(h for h, ip in HOSTS.items() if ip == journey.field('tun_ipv4_dst'))
        fields = {k: v for k, v in inner.items() if k in INNER}
        fields.update({'in_port': P.TUNNEL_PORT, 'tunnel_id': inner['tunnel_id'], 'tun_ipv4_src': HOSTS[sender],
                       **outer})
        return host, self.switches[host].send(**fields)

    def lookup(self, host):
        def ask(vni, ip, peered=True, subscribe=True, target=None):
            return self.table.lookup(vni, ip, host=host if subscribe else None, peered=peered, target=target)
        return ask

    def packet_in(self, host, journey, n=0):
        """Hand the journey's n-th packet-in to the host's router, as the router app does."""
        table, cookie, fields = journey.packet_ins[n]
        kept = ('in_port', 'metadata', 'tunnel_id', 'reg0', 'reg3', 'reg4', 'reg5')
        match = {k: v for k, v in fields.items() if k in kept}
        if fields['tun_ipv4_src']:
            match['tun_ipv4_src'] = str(ipaddress.IPv4Address(fields['tun_ipv4_src']))
        return self.routers[host].packet_in(table, cookie, match, packet_of(fields), self.lookup(host))


@pytest.fixture
def world():
    return World()


def tcp(port, **more):
    return dict(ip_proto=6, tcp_dst=port, tcp_src=40000, **more)


# ---- CLASSIFY: anti-spoofing --------------------------------------------------------------------

def test_a_spoofed_source_is_dropped_where_it_enters_and_raises_an_alert(world):
    j = world.send('web-1', ipv4_src='10.0.1.99', ipv4_dst='10.0.1.11', **tcp(80))
    assert j.verdict == 'dropped: spoofed-source at CLASSIFY'
    outcome = world.packet_in('h1', j)
    (alert,) = outcome.alerts
    assert alert.reason == 'spoofed-source' and alert.source == f'{MAC["web-1"]}/10.0.1.99'
    assert alert.detail == (f'instance web-1 (eni-web-1, 10.0.1.10 {MAC["web-1"]}) sent from 10.0.1.99 '
                            f'{MAC["web-1"]}, not its own address')


def test_a_foreign_mac_and_other_protocols_are_told_apart(world):
    assert world.send('web-1', eth_src='0e:00:00:00:00:99', ipv4_dst='10.0.1.11').verdict == \
        'dropped: spoofed-source at CLASSIFY'
    assert world.send('web-1', eth_type=0x86dd).verdict == 'dropped: unsupported-protocol at CLASSIFY'


def test_after_unplugging_the_port_knows_nobody(world):
    world.switches['h1'].apply(world.routers['h1'].port_removed(f'vl_i{PORT["web-1"]}'))
    assert world.send('web-1', ipv4_dst='10.0.1.11', **tcp(80)).verdict == 'dropped: unknown-port at CLASSIFY'


# ---- ARP -------------------------------------------------------------------------------------------

@pytest.mark.parametrize('target,mac', [('10.0.1.1', P.ROUTER_MAC), ('10.0.1.11', MAC['web-2'])])
def test_arp_is_answered_on_the_host_out_the_port_it_came_in(world, target, mac):
    j = world.send('web-1', arp_op=1, arp_tpa=target)
    assert j.verdict == f'out port {PORT["web-1"]}' and j.stages == ['CLASSIFY', 'ARP']
    assert (j.field('arp_op'), j.field('arp_sha'), j.field('arp_spa')) == (2, mac, target)
    assert (j.field('eth_src'), j.field('eth_dst'), j.field('arp_tpa')) == (mac, MAC['web-1'], '10.0.1.10')


def test_arp_for_an_address_the_vpc_does_not_have(world):
    assert world.send('web-1', arp_op=1, arp_tpa='10.0.1.77').verdict == 'dropped: arp-unknown-target at ARP'


def test_reactive_arp_asks_the_mapping_service_and_the_switch_answers():
    w = World('reactive')
    j = w.send('web-1', arp_op=1, arp_tpa='10.0.1.11')
    assert j.verdict == 'to the controller at ARP'
    outcome = w.packet_in('h1', j)
    w.switches['h1'].apply(outcome.messages)
    (resubmitted,) = [m for m in outcome.messages if isinstance(m, ofp.parser.OFPPacketOut)]
    again = w.switches['h1'].packet_out(resubmitted)
    assert again.verdict == f'out port {PORT["web-1"]}' and again.field('arp_sha') == MAC['web-2']
    assert w.routers['h1'].counters['cache_misses'] == 1


@pytest.mark.parametrize('fields', [dict(arp_op=1, arp_tpa='10.0.1.11'), dict(ipv4_dst='10.0.1.11', **tcp(80))])
def test_a_reactive_miss_the_cache_already_answers_asks_the_mapping_service_nothing(fields):
    """Two packets missed before the first one's flows were in (a retransmitted ARP request, the
    next packet of a burst): the second is answered from the host's cache, and its flows go again."""
    w = World('reactive')
    if 'ipv4_dst' in fields:           # the ARP miss caches web-2; then its mapping flows are lost
        w.switches['h1'].apply(w.packet_in('h1', w.send('web-1', arp_op=1, arp_tpa='10.0.1.11')).messages)
        w.switches['h1'].apply([ofp.delete(cookie=P.cookie(P.KIND_CACHE), cookie_mask=P.KIND_MASK, table=P.MAPPING)])
    first = w.send('web-1', **fields)
    assert first.verdict == f'to the controller at {"ARP" if "arp_op" in fields else "MAPPING"}'
    miss = len(first.packet_ins) - 1              # after the flow log's first packet, if any
    if 'arp_op' in fields:
        w.switches['h1'].apply(w.packet_in('h1', first, miss).messages)
    asked = w.table.counters['lookups']
    outcome = w.packet_in('h1', first, miss)
    assert w.table.counters['lookups'] == asked
    w.switches['h1'].apply(outcome.messages)
    (resubmitted,) = [m for m in outcome.messages if isinstance(m, ofp.parser.OFPPacketOut)]
    verdict = w.switches['h1'].packet_out(resubmitted).verdict
    assert verdict == (f'out port {PORT["web-1"]}' if 'arp_op' in fields else 'tunnel to 100.127.0.3, VNI 100')


def test_a_receiving_check_the_cache_already_answers_asks_the_mapping_service_nothing():
    """The datapath's cache may send a packet up after the flows of the first miss came: the
    receiving host's cache answers it, unless the packet disagrees with it (then the service is asked)."""
    w = World('reactive')
    first = w.send('web-1', ipv4_dst='10.0.1.11', **tcp(80))
    outcome = w.packet_in('h1', first, len(first.packet_ins) - 1)
    w.switches['h1'].apply(outcome.messages)
    (resubmitted,) = [m for m in outcome.messages if isinstance(m, ofp.parser.OFPPacketOut)]
    tunnelled = w.switches['h1'].packet_out(resubmitted)
    _, there = w.receive(tunnelled, 'h1')
    assert there.verdict == 'to the controller at CHECK'
    w.switches['h3'].apply(w.packet_in('h3', there).messages)
    asked = w.table.counters['lookups']
    outcome = w.packet_in('h3', there)
    assert w.table.counters['lookups'] == asked and not outcome.alerts
    (resubmitted,) = [m for m in outcome.messages if isinstance(m, ofp.parser.OFPPacketOut)]
    assert w.switches['h3'].packet_out(resubmitted).verdict == f'out port {PORT["web-2"]}'
    _, spoofed = w.receive(tunnelled, 'h1', tun_ipv4_src='100.127.0.2')
    assert [a.reason for a in w.packet_in('h3', spoofed).alerts] == ['unregistered-source']
    assert w.table.counters['lookups'] == asked + 1


# ---- security groups, network ACL, route table ---------------------------------------------------

def test_a_security_group_allows_its_members_and_drops_the_rest(world):
    ok = world.send('web-1', ipv4_dst='10.0.2.20', **tcp(5432))
    assert ok.verdict == f'out port {PORT["db-1"]}'
    assert ok.stages == ['CLASSIFY', 'EGRESS_SG', 'EGRESS_SG_RULES', 'EGRESS_NACL', 'FLOW_LOG', 'ROUTE_TABLE',
                         'MAPPING', 'EGRESS_COMMIT', 'DESTINATION', 'INGRESS_NACL', 'INGRESS_SG',
                         'INGRESS_SG_RULES', 'DELIVER', 'FLOW_LOG']
    assert ok.commits == [world.table.entry_of('web-1').ident, world.table.entry_of('db-1').ident]
    assert world.send('web-1', ipv4_dst='10.0.2.20', **tcp(80)).verdict == \
        'dropped: security-group at INGRESS_SG_RULES'


def test_conntrack_lets_replies_through_and_drops_invalid_packets(world):
    assert world.send('web-1', ct='est', ipv4_dst='10.0.2.20', **tcp(80)).verdict == f'out port {PORT["db-1"]}'
    assert world.send('web-1', ct='inv', ipv4_dst='10.0.2.20', **tcp(5432)).verdict == \
        'dropped: invalid-packet at EGRESS_SG_RULES'


def test_each_side_logs_its_decision(world):
    j = world.send('web-1', ipv4_dst='10.0.2.20', **tcp(80))
    keys = [k for n in range(len(j.packet_ins)) for k in world.packet_in('h1', j, n).flow_log]
    assert [(k.ident, k.action, k.src, k.dst, k.dport) for k in keys] == [
        (world.table.entry_of('web-1').ident, P.LOG_ACCEPT, '10.0.1.10', '10.0.2.20', 80),
        (world.table.entry_of('db-1').ident, P.LOG_REJECT, '10.0.1.10', '10.0.2.20', 80)]


def test_a_network_acl_denies_what_the_security_group_allows(world):
    assert world.send('web-1', ipv4_dst='10.0.2.20', **tcp(22)).verdict == 'dropped: network-acl at INGRESS_NACL'


@pytest.mark.parametrize('sender,dst,verdict', [
    ('db-1', '192.168.5.5', 'dropped: no-route at ROUTE_TABLE'),
    ('web-1', '10.0.9.5', 'dropped: blackhole at ROUTE_TABLE'),
    ('web-1', '8.8.8.8', 'dropped: target-not-built at ROUTE_TABLE'),
    ('web-1', '10.0.1.50', 'dropped: no-mapping at MAPPING'),
])
def test_the_route_table_and_the_mapping_say_why_nothing_goes_there(world, sender, dst, verdict):
    assert world.send(sender, ipv4_dst=dst, **tcp(80)).verdict == verdict


def test_changed_rules_replace_flows_without_a_gap(world):
    to_web = dict(ipv4_dst='10.0.1.10')
    later_fragment = dict(to_web, ip_proto=6, ip_frag=3)      # no ports: allowed by any tcp rule
    j = world.send('db-1', **later_fragment)
    assert j.verdict == f'out port {PORT["web-1"]}'
    (allowing,) = [f for stage, f in j.trail if stage == 'INGRESS_SG_RULES']
    assert world.send('db-1', **to_web, **tcp(8080)).verdict == 'dropped: security-group at INGRESS_SG_RULES'
    world.book.set_rules(BLUE, 'web', [rule(6, [80, 80]), rule(6, [8080, 8080])], [rule()])
    world.push()
    assert world.send('db-1', **to_web, **tcp(8080)).verdict == f'out port {PORT["web-1"]}'
    assert world.send('db-1', **to_web, **tcp(80)).verdict == f'out port {PORT["web-1"]}'
    assert world.send('db-1', **to_web, ip_proto=1).verdict == 'dropped: security-group at INGRESS_SG_RULES'
    assert allowing in world.switches['h1'].flows       # never removed and added again


def test_without_enforced_groups_the_pipeline_skips_conntrack():
    j = World(enforce=False).send('web-1', ipv4_dst='10.0.2.20', **tcp(80))
    assert j.verdict == f'out port {PORT["db-1"]}' and 'EGRESS_SG_RULES' not in j.stages and not j.commits


# ---- groups naming groups: OVS conjunctions ------------------------------------------------------
# AWS's default group admits its own members; 'locked' lets default members in on 5432 and talks to
# them on https only; 'https' admits anyone on 443.
DEFAULT_GROUPS = {BLUE: {'default': dict(inbound=[rule(peer='sg:default')], outbound=[rule()]),
                         'locked': dict(inbound=[rule(6, [5432, 5432], 'sg:default')],
                                        outbound=[rule(6, [443, 443], 'sg:default')]),
                         'https': dict(inbound=[rule(6, [443, 443])], outbound=[])},
                  RED: GROUPS[RED]}
DEFAULT_ASSIGN = {'web-1': ('default', 'https'), 'web-2': ('default',), 'db-1': ('locked',)}


@pytest.fixture
def members():
    return World(groups=DEFAULT_GROUPS, assign=DEFAULT_ASSIGN)


def deciding(journey, stage):
    (flow,) = [f for name, f in journey.trail if name == stage]
    return flow


def member_clauses(w):
    """Every host's flows of the member clauses (conjunction clause 1): {(host, key): Flow}."""
    return {(h, k): f for h in HOSTS for k, f in w.rule_flows(h).items()
            if f.conjunctions and {clause for _, clause, _ in f.conjunctions} == {1}}


def test_the_default_group_admits_its_members_and_drops_the_rest(members):
    j = members.send('web-1', ipv4_dst='10.0.1.11', ip_proto=17, udp_dst=5000)
    host, there = members.receive(j, 'h1')
    assert (host, there.verdict) == ('h3', f'out port {PORT["web-2"]}')
    assert 'conj_id' in deciding(there, 'INGRESS_SG_RULES').match        # decided by the conjunction
    assert there.commits == [members.table.entry_of('web-2').ident]
    _, refused = members.receive(members.send('db-1', ipv4_dst='10.0.1.11', **tcp(443)), 'h1')
    assert refused.verdict == 'dropped: security-group at INGRESS_SG_RULES'      # db-1 is no member
    # the conjunction costs the ENIs plus the members, not their product: on h1, web-1's ingress
    # (clause 0), db-1's 5432 rule (clause 0, and its later fragments) and the members web-1 and
    # web-2 (clause 1, one flow each carrying both conjunctions)
    conj = [f for f in members.rule_flows('h1').values() if f.table == P.INGRESS_SG_RULES and f.conjunctions]
    assert sorted(sorted(k for _, k, _ in f.conjunctions) for f in conj) == [[0], [0], [0], [1, 1], [1, 1]]


def test_a_rule_naming_a_group_with_ports_in_both_directions(members):
    assert members.send('web-1', ipv4_dst='10.0.2.20', **tcp(5432)).verdict == f'out port {PORT["db-1"]}'
    assert members.send('web-1', ipv4_dst='10.0.2.20', **tcp(5433)).verdict == \
        'dropped: security-group at INGRESS_SG_RULES'
    out = members.send('db-1', ipv4_dst='10.0.1.10', **tcp(443))               # to: sg:default
    assert out.verdict == f'out port {PORT["web-1"]}' and 'conj_id' in deciding(out, 'EGRESS_SG_RULES').match
    assert members.send('db-1', ipv4_dst='10.0.1.10', **tcp(80)).verdict == \
        'dropped: security-group at EGRESS_SG_RULES'
    assert members.send('db-1', ipv4_dst='8.8.8.8', **tcp(443)).verdict == \
        'dropped: security-group at EGRESS_SG_RULES'                             # no member


def test_a_member_launched_or_terminated_changes_only_member_clause_flows(members):
    before = {h: members.rule_flows(h) for h in HOSTS}
    still = []
    members.launch('web-3', BLUE, '10.0.1.12', 'h2', 'subnet-a', ('default',), 1)
    members.push(each=lambda: still.append(members.send('web-1', ipv4_dst='10.0.2.20', **tcp(5432)).verdict))
    assert set(still) == {f'out port {PORT["db-1"]}'}                        # allowed all along
    after = members.rule_flows('h1')
    assert all(after[k] is f for k, f in before['h1'].items())              # none replaced or gone
    new = [after[k] for k in after.keys() - before['h1'].keys()]
    assert sorted((f.table, f.match.get('ipv4_src', f.match.get('ipv4_dst'))[0]) for f in new) == \
        [(P.EGRESS_SG_RULES, value('ipv4_dst', '10.0.1.12')), (P.INGRESS_SG_RULES, value('ipv4_src', '10.0.1.12'))]
    assert all({k for _, k, _ in f.conjunctions} == {1} for f in new)
    _, there = members.receive(members.send('web-3', ipv4_dst='10.0.1.10', **tcp(80)), 'h2')
    assert there.verdict == f'out port {PORT["web-1"]}'
    members.table.deregister('web-3')
    members.push()
    assert members.rule_flows('h1') == before['h1'] and members.rule_flows('h3') == before['h3']


def test_a_member_migrating_moves_its_eni_and_no_member_clause(members):
    clauses = member_clauses(members)
    members.table.migrate('web-2', 'h1')
    members.push()
    assert {k: f for k, f in member_clauses(members).items() if k[0] == 'h1'} == \
        {k: f for k, f in clauses.items() if k[0] == 'h1'}
    assert not any(f.conjunctions for f in members.rule_flows('h3').values())   # no local ENI left there
    assert members.send('web-1', ipv4_dst='10.0.1.11', **tcp(80)).verdict == f'out port {PORT["web-2"]}'
    assert members.send('web-2', ipv4_dst='10.0.1.10', ip_proto=1).verdict == f'out port {PORT["web-1"]}'
    assert members.send('db-1', ipv4_dst='10.0.1.11', **tcp(443)).verdict == \
        'dropped: security-group at INGRESS_SG_RULES'


@pytest.mark.parametrize('group,inbound,kept,gained,lost', [
    ('locked', [rule(6, [5432, 5433], 'sg:default')], ('web-1', '10.0.2.20', 5432), ('web-1', '10.0.2.20', 5433),
     None),
    ('default', [rule(6, [80, 80], 'sg:default')], ('web-2', '10.0.1.10', 80), None, ('web-2', '10.0.1.10', 81)),
    ('default', [rule(6, [443, 443], 'sg:locked'), rule(peer='sg:default')], ('web-1', '10.0.1.11', 80),
     ('db-1', '10.0.1.11', 443), None),
])
def test_a_rule_change_on_a_named_group_has_no_gap(members, group, inbound, kept, gained, lost):
    def verdict(sender, dst, port):
        j = members.send(sender, ipv4_dst=dst, **tcp(port))
        if j.outputs and j.outputs[0][0] == P.TUNNEL_PORT:
            j = members.receive(j, members.table.entry_of(sender).host)[1]
        return j.verdict.startswith('out port')
    assert verdict(*kept) and (gained is None or not verdict(*gained)) and (lost is None or verdict(*lost))
    outbound = DEFAULT_GROUPS[BLUE][group]['outbound']
    members.book.set_rules(BLUE, group, inbound, outbound)
    seen = []
    members.push(each=lambda: seen.append(verdict(*kept)))
    assert seen and all(seen)                                               # allowed after every message
    assert gained is None or verdict(*gained)
    assert lost is None or not verdict(*lost)


# ---- MAPPING, encapsulation, the receiving CHECK, delivery -----------------------------------------

def test_cross_host_goes_through_the_tunnel_and_is_delivered_there(world):
    j = world.send('web-1', ipv4_dst='10.0.1.11', **tcp(80))
    assert j.verdict == 'tunnel to 100.127.0.3, VNI 100' and j.field('eth_dst') == MAC['web-2']
    host, there = world.receive(j, 'h1')
    assert host == 'h3' and there.verdict == f'out port {PORT["web-2"]}'
    assert there.stages[:3] == ['CLASSIFY', 'CHECK', 'DESTINATION'] and there.stages[-2] == 'DELIVER'


@pytest.mark.parametrize('outer,why', [
    (dict(tunnel_id=RED), '10.0.1.10 (VNI 101) runs on h2 (100.127.0.2), but the packet came from 100.127.0.1'),
    (dict(tun_ipv4_src='100.127.0.2'), '10.0.1.10 (VNI 100) runs on h1 (100.127.0.1), but the packet came from '
                                       '100.127.0.2'),
])
def test_from_the_tunnel_with_a_wrong_vni_or_host_the_source_is_unregistered(world, outer, why):
    j = world.send('web-1', ipv4_dst='10.0.1.11', **tcp(80))
    _, there = world.receive(j, 'h1', **outer)
    assert there.verdict == 'dropped: unregistered-source at CHECK'
    (alert,) = world.packet_in('h3', there).alerts
    assert alert.detail == 'encapsulated packet dropped: ' + why


def test_a_migration_moves_the_tunnel_to_the_new_host(world):
    world.table.migrate('web-2', 'h2')
    world.push()
    assert world.send('web-1', ipv4_dst='10.0.1.11', **tcp(80)).verdict == 'tunnel to 100.127.0.2, VNI 100'


# ---- the flows themselves ----------------------------------------------------------------------------

def test_every_drop_flow_is_at_a_stage_that_declares_its_reason(world):
    drops = [(f.table, P.DROP_REASONS[P.cookie_ident(f.cookie)]) for sw in world.switches.values()
             for f in sw.flows if P.cookie_kind(f.cookie) == P.KIND_DROP]
    assert drops and all(reason in P.stage(table).reasons for table, reason in drops)
    assert {r for _, r in drops} >= {'spoofed-source', 'network-acl', 'no-route', 'unregistered-source'}


def test_a_flow_cannot_jump_back():
    with pytest.raises(ValueError, match='MAPPING'):
        ofp.flow(P.MAPPING, 1, ofp.match(), goto=P.ARP)
    with pytest.raises(ValueError):
        ofp.flow(P.CHECK, 1, ofp.match(), goto=P.CHECK)
