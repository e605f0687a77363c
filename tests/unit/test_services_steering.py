"""The VPC services' flows (controllers/router/services.py) through the fake switch: DNS and metadata
steered to the service port with the ENI's service address, answers back to the instance, DHCP to
the router and answered there, nothing else from 0.0.0.0, nothing to the service addresses."""
import ipaddress

import pytest
import test_journeys
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from test_journeys import World

from controllers import pipeline as P
from controllers.router import ofp
from testbed.services.addresses import eni_address

UNTAGGED = dict(vlan_vid=0)


@pytest.fixture
def world():
    subnets = {k: dict(s, services=dict(vpc_cidr='10.0.0.0/16', domain='ec2.internal', mtu=9001))
               for k, s in test_journeys.SUBNETS.items()}
    return World(subnets=subnets)


def ident(world, name):
    return world.table.entry_of(name).ident


def udp(port, **more):
    return {'ip_proto': 17, 'udp_src': 40000, 'udp_dst': port, **UNTAGGED, **more}


def tcp(port, **more):
    return {'ip_proto': 6, 'tcp_src': 40000, 'tcp_dst': port, **UNTAGGED, **more}


@pytest.mark.parametrize('dst, ask', [('10.0.0.2', udp(53)), ('10.0.0.2', tcp(53)), ('169.254.169.253', udp(53)),
                                      ('169.254.169.254', tcp(80))])
def test_dns_and_metadata_go_to_the_service_port_as_the_enis_service_address(world, dst, ask):
    j = world.send('web-1', ipv4_dst=dst, **ask)
    assert j.verdict == f'out port {P.SERVICE_PORT}' and j.stages == ['CLASSIFY']       # no SG, ACL, flow log
    assert (j.field('ipv4_src'), j.field('ipv4_dst'), j.field('eth_dst')) == \
        (eni_address(ident(world, 'web-1')), dst, P.SERVICE_MAC)


def test_the_answer_goes_back_to_the_instance_with_its_own_address(world):
    me = eni_address(ident(world, 'web-1'))
    j = world.switches['h1'].send(in_port=P.SERVICE_PORT, eth_src=P.SERVICE_MAC, eth_dst=P.SERVICE_MAC,
                                  eth_type=0x0800, ipv4_src='169.254.169.254', ipv4_dst=me, **tcp(40000))
    assert j.verdict == f'out port {test_journeys.PORT["web-1"]}'
    assert (j.field('ipv4_dst'), j.field('eth_dst'), j.field('eth_src')) == \
        ('10.0.1.10', test_journeys.MAC['web-1'], P.ROUTER_MAC)
    # an ENI of another host, or anything else from the service port: unknown-port
    other = eni_address(ident(world, 'red-1'))
    j = world.switches['h1'].send(in_port=P.SERVICE_PORT, eth_type=0x0800, ipv4_src='10.0.0.2', ipv4_dst=other,
                                  **udp(53))
    assert j.verdict == 'dropped: unknown-port at CLASSIFY'


def test_overlapping_enis_are_told_apart(world):
    """web-1 (blue) and red-1 (red) share 10.0.1.10: each arrives with its own service address."""
    a = world.send('web-1', ipv4_dst='10.0.0.2', **udp(53)).field('ipv4_src')
    b = world.send('red-1', ipv4_dst='10.0.0.2', **udp(53)).field('ipv4_src')
    assert a != b and {a, b} == {eni_address(ident(world, 'web-1')), eni_address(ident(world, 'red-1'))}


def test_the_service_addresses_never_leave(world):
    j = world.send('web-1', ipv4_dst=eni_address(ident(world, 'web-2')), **udp(9999))
    assert j.verdict == 'dropped: service-address at CLASSIFY'


def discover(mac, src='0.0.0.0'):
    return bytes(Ether(src=mac, dst='ff:ff:ff:ff:ff:ff') / IP(src=src, dst='255.255.255.255') /
                 UDP(sport=68, dport=67) / BOOTP(chaddr=bytes.fromhex(mac.replace(':', '')), xid=7) /
                 DHCP(options=[('message-type', 'discover'), 'end']))


def test_dhcp_goes_to_the_router_which_offers_the_enis_address(world):
    mac = test_journeys.MAC['web-1']
    j = world.send('web-1', ipv4_src='0.0.0.0', ipv4_dst='255.255.255.255', **udp(67, udp_src=68))
    assert [P.cookie_kind(c) for _, c, _ in j.packet_ins] == [P.KIND_DHCP] and not j.outputs
    router = world.routers['h1']
    out = router.packet_in(P.CLASSIFY, j.packet_ins[0][1], {'in_port': test_journeys.PORT['web-1']},
                           discover(mac), world.lookup('h1'))
    (msg,) = out.messages
    offer = Ether(msg.data)
    assert offer[BOOTP].yiaddr == '10.0.1.10' and msg.actions[0].port == test_journeys.PORT['web-1']
    assert dict(o for o in offer[DHCP].options if isinstance(o, tuple))['name_server'] == '10.0.0.2'
    assert router.counters['dhcp_offers'] == 1
    # someone else's MAC in the request: nothing, counted
    assert router.packet_in(P.CLASSIFY, j.packet_ins[0][1], {'in_port': test_journeys.PORT['web-1']},
                            discover('0e:66:66:66:66:66'), world.lookup('h1')).messages == []
    assert router.counters['dhcp_ignored'] == 1


@pytest.mark.parametrize('fields', [udp(9999, udp_src=68), udp(67, udp_src=5000), tcp(67, tcp_src=68),
                                    dict(ip_proto=1, **UNTAGGED)])
def test_nothing_else_passes_from_0_0_0_0(world, fields):
    j = world.send('web-1', ipv4_src='0.0.0.0', ipv4_dst='255.255.255.255', **fields)
    assert j.verdict == 'dropped: spoofed-source at CLASSIFY' and not j.outputs


def test_dhcp_from_another_mac_is_spoofed(world):
    j = world.send('web-1', eth_src='0e:66:66:66:66:66', ipv4_src='0.0.0.0', ipv4_dst='255.255.255.255',
                   **udp(67, udp_src=68))
    assert j.verdict == 'dropped: spoofed-source at CLASSIFY'


def test_unplugging_removes_every_service_flow(world):
    router, switch = world.routers['h1'], world.switches['h1']
    switch.apply(router.port_removed(f'vl_i{test_journeys.PORT["web-1"]}'))
    me = int(ipaddress.IPv4Address(eni_address(ident(world, 'web-1'))))
    assert not [f for f in switch.flows if f.match.get('ipv4_dst', (None,))[0] == me]
    assert not [f for f in switch.flows if P.cookie_kind(f.cookie) == P.KIND_DHCP
                and P.cookie_ident(f.cookie) == ident(world, 'web-1')]


def steering(switch, name_ident):
    """The flows that send an ENI's requests to the service port."""
    return [f for f in switch.flows if f.table == P.CLASSIFY and P.cookie_ident(f.cookie) == name_ident
            and P.cookie_kind(f.cookie) == P.KIND_LOCAL and any(
                getattr(a, 'port', None) == P.SERVICE_PORT for i in f.instructions for a in getattr(i, 'actions', ()))]


def services(switch):
    return {m for m in switch.meters if P.is_services_meter(m)}


def test_each_eni_has_its_own_services_meter_on_its_steering_flows_only(world):
    switch = world.switches['h1']
    for name in ('web-1', 'db-1'):
        meter = P.eni_services_meter(ident(world, name))
        mod = switch.meters[meter]
        (band,) = mod.bands
        assert mod.flags == ofp.ofp.OFPMF_PKTPS | ofp.ofp.OFPMF_BURST
        assert (type(band), band.rate, band.burst_size) == (ofp.parser.OFPMeterBandDrop, 1024, P.ENI_SERVICES_BURST)
        flows = steering(switch, ident(world, name))
        assert len(flows) == 5 and {f.meter for f in flows} == {meter}            # DNS x4, metadata
        assert [f for f in switch.flows if f.meter == meter] == flows               # not the answers, not DHCP


def test_a_services_meter_goes_with_its_eni_and_comes_back_with_it(world):
    """Migration away, a port that goes, a re-sent entry, termination: the switch never holds a
    services meter without its ENI, nor is one added twice (FakeSwitch checks as OVS would)."""
    web1 = ident(world, 'web-1')
    h1, h2 = world.switches['h1'], world.switches['h2']
    assert P.eni_services_meter(web1) in services(h1) - services(h2)
    world.table.migrate('web-1', 'h2')
    world.push()
    assert P.eni_services_meter(web1) in services(h2) - services(h1) and len(steering(h2, web1)) == 5
    router = world.routers['h2']
    e = router.local[world.table.entry_of('web-1').key]
    h2.apply(router.port_removed(e.port_name))
    assert P.eni_services_meter(web1) not in h2.meters and not steering(h2, web1)
    h2.apply(router.port_added(e.port_name, 7))
    h2.apply(router.add_local(e))                                   # the same entry again
    assert P.eni_services_meter(web1) in h2.meters and {f.meter for f in steering(h2, web1)} == \
        {P.eni_services_meter(web1)}
    world.table.deregister('web-1')
    world.push()
    assert P.eni_services_meter(web1) not in services(h1) | services(h2)


def test_meter_ids_are_unique_on_a_switch():
    """Each ENI's three meters and the host's two: no two alike for every ident, and within OVS's
    userspace datapath's 262144 meters."""
    ids = [P.ALERT_METER, P.CHECK_MISS_METER]
    for i in range(1, 65536):
        ids += [P.eni_alert_meter(i), P.eni_packet_in_meter(i), P.eni_services_meter(i)]
    assert len(set(ids)) == len(ids) and max(ids) <= 262144
    assert [m for m in ids if P.is_services_meter(m)] == [P.eni_services_meter(i) for i in range(1, 65536)]
