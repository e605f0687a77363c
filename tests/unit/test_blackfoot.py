"""Blackfoot's decisions on real packet bytes (scapy builds and checks them), no lab."""
import pytest
from scapy.layers.inet import ICMP, IP, UDP, IPerror, defragment
from test_appliances_packets import fresh

from testbed.appliances import blackfoot as bf
from testbed.appliances import esp
from testbed.appliances.packets import ip4, mac

BLUE, RED = 100, 200
HOST1, HOST2 = ip4('100.127.0.1'), ip4('100.127.0.2')
MAC1, MAC2 = mac('0e:00:00:00:01:0a'), mac('0e:00:00:00:02:14')
EDGE_IP = ip4('100.64.0.1')


@pytest.fixture
def world():
    routes = bf.Routes()
    for dst, target in (('0.0.0.0/0', 'igw'), ('192.168.0.0/16', 'vgw'), ('172.16.0.0/16', 'dx:corp-dx'),
                        ('198.18.0.10/32', 'vpce:s3-ep'), ('10.9.0.0/16', 'pcx:x')):
        routes.add(BLUE, '10.0.1.0/24', dst, target)
    routes.add(BLUE, '10.0.2.0/24', '0.0.0.0/0', 'igw')       # public subnet without the endpoint
    routes.add(BLUE, '10.0.3.0/24', '192.168.0.0/16', 'vgw')  # private: no igw
    routes.add(RED, '10.0.1.0/24', '198.18.0.10/32', 'vpce:red-ep')
    mapping = {(BLUE, ip4('10.0.1.10')): (HOST1, MAC1), (BLUE, ip4('10.0.2.20')): (HOST2, MAC2),
               (BLUE, ip4('10.0.3.30')): (HOST2, MAC2), (RED, ip4('10.0.1.10')): (HOST2, MAC2)}
    eips = [bf.ElasticIp(ip4('203.0.113.5'), BLUE, ip4('10.0.1.10')),
            bf.ElasticIp(ip4('203.0.113.6'), BLUE, ip4('10.0.2.20')),
            bf.ElasticIp(ip4('203.0.113.7'), BLUE, ip4('10.0.3.30'))]
    to_site, to_edge = esp.sa_pair('demo', 'corp-vpn', EDGE_IP, ip4('100.64.0.2'))
    vpn = bf.VpnConnection('corp-vpn', BLUE, '192.168.0.0/16', esp.Tunnel(to_site, to_edge))
    site = esp.Tunnel(to_edge, to_site)
    dx = bf.DirectConnect('corp-dx', BLUE, '172.16.0.0/16', 101)
    s3 = ip4('198.18.0.10')
    endpoints = [bf.GatewayEndpoint('s3-ep', BLUE, s3, ip4('198.18.0.201')),
                 bf.GatewayEndpoint('red-ep', RED, s3, ip4('198.18.0.202'))]
    edge = bf.Edge(routes, mapping, ip4('198.51.100.1'), eips, [vpn], [dx], endpoints)
    edge.site = site
    return edge


def udp(src, dst, size=20, ttl=64, df=True):
    return bytes(IP(src=src, dst=dst, ttl=ttl, flags='DF' if df else 0) / UDP(sport=5000, dport=53) / bytes(size))


def one(actions, kind):
    assert len(actions) == 1 and isinstance(actions[0], kind), actions
    return actions[0]


def test_elastic_ip_out_and_back(world):
    out = one(world.outbound(BLUE, udp('10.0.1.10', '198.51.100.10')), bf.ToLink)
    q = IP(out.packet)
    assert (out.link, out.vlan, q.src, q.dst, q.ttl) == ('internet', None, '203.0.113.5', '198.51.100.10', 63)
    assert out.packet == fresh(out.packet)
    back = one(world.inbound('internet', udp('198.51.100.10', '203.0.113.5')), bf.ToHost)
    assert (back.vni, back.host_ip, back.mac, IP(back.packet).dst) == (BLUE, HOST1, MAC1, '10.0.1.10')
    assert back.packet == fresh(back.packet)
    assert world.counters['out:internet'] == 1 and world.counters['in:igw'] == 1


def test_an_elastic_ip_follows_a_migration(world):
    world.mapping[(BLUE, ip4('10.0.1.10'))] = (HOST2, MAC1)
    assert one(world.inbound('internet', udp('198.51.100.10', '203.0.113.5')), bf.ToHost).host_ip == HOST2


def test_a_callable_mapping_and_a_missing_entry():
    edge = bf.Edge(bf.Routes(), lambda key: None, ip4('198.51.100.1'))
    assert edge.deliver(BLUE, udp('1.1.1.1', '10.0.1.10')) == [bf.Drop('no-mapping')]


@pytest.mark.parametrize('dst,reason', [('203.0.113.99', 'no-elastic-ip'), ('203.0.113.7', 'no-route-to-igw')])
def test_nothing_from_the_internet_without_an_elastic_ip_or_a_route_to_igw(world, dst, reason):
    assert world.inbound('internet', udp('198.51.100.10', dst)) == [bf.Drop(reason)]
    assert world.counters[f'drop:{reason}'] == 1


@pytest.mark.parametrize('src', ['169.254.169.253', '169.254.169.254', '127.0.0.1', '0.0.0.1', '224.0.0.1'])
def test_nothing_from_the_internet_with_a_source_the_internet_never_routes(world, src):
    """A forged answer 'from' the VPC's DNS server or metadata would reach the instance."""
    assert world.inbound('internet', udp(src, '203.0.113.5')) == [bf.Drop('unroutable-source')]


@pytest.mark.parametrize('dst', ['169.254.169.254', '169.254.1.1', '224.0.0.251', '239.1.1.1', '255.255.255.255'])
def test_nothing_to_the_internet_that_it_never_routes(world, dst):
    assert world.outbound(BLUE, udp('10.0.1.10', dst)) == [bf.Drop('unroutable-destination')]


@pytest.mark.parametrize('src,dst,reason', [('10.0.1.11', '198.51.100.10', 'no-elastic-ip'),
                                            ('10.0.3.30', '198.51.100.10', 'no-route'),
                                            ('10.0.1.10', '10.9.0.1', 'target-not-edge')])
def test_outbound_drops(world, src, dst, reason):
    assert world.outbound(BLUE, udp(src, dst)) == [bf.Drop(reason)]


def test_not_ipv4_and_ttl_expiring_inbound(world):
    assert world.outbound(BLUE, b'\x60' + bytes(39)) == [bf.Drop('not-ipv4')]
    assert world.inbound('internet', b'junk') == [bf.Drop('not-ipv4')]
    assert world.inbound('internet', udp('198.51.100.10', '203.0.113.5', ttl=1)) == [bf.Drop('ttl-expired')]


def test_icmp_errors_inbound_have_their_quoted_packet_translated_too(world):
    inside = udp('10.0.1.10', '198.51.100.10', ttl=3)
    outside = one(world.outbound(BLUE, inside), bf.ToLink).packet
    # a router on the internet says time exceeded, quoting what it got: the elastic IP as source
    err = bytes(IP(src='198.51.100.77', dst='203.0.113.5') / ICMP(type=11, code=0) / outside[:28])
    back = one(world.inbound('internet', err), bf.ToHost)
    q = IP(back.packet)
    assert (q.dst, q[IPerror].src, q[IPerror].dst) == ('10.0.1.10', '10.0.1.10', '198.51.100.10')
    assert back.packet == fresh(back.packet)
    # the quoted header and UDP checksum are what the instance sent, but for the edge's TTL - 1
    assert bytes(q[ICMP].payload)[20:28] == inside[20:28] and bytes(q[ICMP].payload)[12:20] == inside[12:20]
    assert IP(bytes(q[ICMP].payload)).ttl == 2


def test_icmp_errors_outbound_quote_the_elastic_ip(world):
    probe = udp('198.51.100.10', '203.0.113.5')
    inside = one(world.inbound('internet', probe), bf.ToHost).packet
    unreachable = bytes(IP(src='10.0.1.10', dst='198.51.100.10') / ICMP(type=3, code=3) / inside[:28])
    out = one(world.outbound(BLUE, unreachable), bf.ToLink).packet
    q = IP(out)
    assert (q.src, q[IPerror].dst) == ('203.0.113.5', '203.0.113.5') and out == fresh(out)


def test_too_big_with_df_gets_fragmentation_needed_back_and_without_df_is_fragmented(world):
    big = udp('10.0.1.10', '198.51.100.10', size=3000)
    back = one(world.outbound(BLUE, big), bf.ToHost)
    q = IP(back.packet)
    assert (back.host_ip, q.src, q.dst, q[ICMP].type, q[ICMP].code, q[ICMP].nexthopmtu) == (
        HOST1, '198.51.100.1', '10.0.1.10', 3, 4, 1500)
    assert q[IPerror].dst == '198.51.100.10' and world.counters['icmp:frag-needed'] == 1
    pieces = world.outbound(BLUE, udp('10.0.1.10', '198.51.100.10', size=3000, df=False))
    assert len(pieces) == 3 and all(len(x.packet) <= 1500 and x.link == 'internet' for x in pieces)
    whole = defragment([IP(x.packet) for x in pieces])[0]
    assert whole.src == '203.0.113.5' and len(whole[UDP].payload) == 3000


def test_ttl_expiring_at_the_edge_gets_time_exceeded(world):
    back = one(world.outbound(BLUE, udp('10.0.1.10', '198.51.100.10', ttl=1)), bf.ToHost)
    q = IP(back.packet)
    assert (q[ICMP].type, q.src, q.dst) == (11, '198.51.100.1', '10.0.1.10')


def test_vpn_out_in_esp_and_back(world):
    out = one(world.outbound(BLUE, udp('10.0.1.10', '192.168.1.10')), bf.ToLink)
    assert out.link == 'vpn:corp-vpn' and IP(out.packet).proto == 50
    inner = IP(world.site.open(out.packet))
    assert (inner.src, inner.dst, inner.ttl) == ('10.0.1.10', '192.168.1.10', 63)
    reply = world.site.seal(udp('192.168.1.10', '10.0.1.10'))
    back = one(world.inbound('vpn:corp-vpn', reply), bf.ToHost)
    assert (back.host_ip, IP(back.packet).src) == (HOST1, '192.168.1.10')
    assert world.inbound('vpn:corp-vpn', reply) == [bf.Drop('esp-replay')]
    assert world.inbound('vpn:corp-vpn', world.site.seal(udp('10.5.0.1', '10.0.1.10'))) == [bf.Drop('source-not-site')]


def test_vpn_mtu_leaves_room_for_esp(world):
    fits = one(world.outbound(BLUE, udp('10.0.1.10', '192.168.1.10', size=bf.VPN_MTU - 28)), bf.ToLink)
    assert len(fits.packet) <= 1500
    back = one(world.outbound(BLUE, udp('10.0.1.10', '192.168.1.10', size=bf.VPN_MTU - 27)), bf.ToHost)
    assert IP(back.packet)[ICMP].nexthopmtu == 1446


def test_direct_connect_gets_the_vlan_and_checks_it_inbound(world):
    out = one(world.outbound(BLUE, udp('10.0.1.10', '172.16.0.5')), bf.ToLink)
    assert (out.link, out.vlan, IP(out.packet).src) == ('dx:corp-dx', 101, '10.0.1.10')
    assert one(world.inbound('dx:corp-dx', udp('172.16.0.5', '10.0.1.10'), vlan=101), bf.ToHost).mac == MAC1
    assert world.inbound('dx:corp-dx', udp('172.16.0.5', '10.0.1.10'), vlan=102) == [bf.Drop('wrong-vlan')]
    assert world.inbound('dx:corp-dx', udp('172.16.0.5', '10.0.3.30'), vlan=101) == [bf.Drop('no-route-to-dx')]


def test_gateway_endpoint_keeps_the_private_source_and_uses_the_endpoints_alias(world):
    out = one(world.outbound(BLUE, udp('10.0.1.10', '198.18.0.10')), bf.ToLink)
    q = IP(out.packet)
    assert (out.link, q.src, q.dst) == ('services', '10.0.1.10', '198.18.0.201') and out.packet == fresh(out.packet)
    back = one(world.inbound('services', udp('198.18.0.201', '10.0.1.10')), bf.ToHost)
    assert (back.vni, back.host_ip, IP(back.packet).src) == (BLUE, HOST1, '198.18.0.10')
    # the same private address in another VPC: the alias tells them apart
    red = one(world.inbound('services', udp('198.18.0.202', '10.0.1.10')), bf.ToHost)
    assert (red.vni, red.host_ip) == (RED, HOST2)
    assert world.outbound(RED, udp('10.0.1.10', '198.18.0.10'))[0].packet[16:20] == ip4('198.18.0.202')


def test_s3_through_the_internet_gateway_sees_the_elastic_ip(world):
    out = one(world.outbound(BLUE, udp('10.0.2.20', '198.18.0.10')), bf.ToLink)
    assert (out.link, IP(out.packet).src, IP(out.packet).dst) == ('services', '203.0.113.6', '198.18.0.10')
    back = one(world.inbound('services', udp('198.18.0.10', '203.0.113.6')), bf.ToHost)
    assert IP(back.packet).dst == '10.0.2.20'


def test_endpoint_routes_only_reach_the_service_of_their_vpc(world):
    world.routes.add(BLUE, '10.0.1.0/24', '198.18.0.0/24', 'vpce:s3-ep')
    assert world.outbound(BLUE, udp('10.0.1.10', '198.18.0.11')) == [bf.Drop('not-the-service')]
    world.routes.add(BLUE, '10.0.1.0/24', '198.18.0.12/32', 'vpce:red-ep')
    assert world.outbound(BLUE, udp('10.0.1.10', '198.18.0.12')) == [bf.Drop('no-endpoint')]
    world.routes.add(BLUE, '10.0.1.0/24', '172.16.9.0/24', 'dx:nope')
    assert world.outbound(BLUE, udp('10.0.1.10', '172.16.9.1')) == [bf.Drop('no-dx-connection')]
    world.routes.add(BLUE, '10.0.1.0/24', '10.200.0.0/16', 'vgw')
    assert world.outbound(BLUE, udp('10.0.1.10', '10.200.0.1')) == [bf.Drop('no-vpn-connection')]


def test_routes_longest_prefix_per_subnet():
    r = bf.Routes()
    r.add(1, '10.0.1.0/24', '0.0.0.0/0', 'igw')
    r.add(1, '10.0.1.0/24', '192.168.0.0/16', 'vgw')
    r.add(1, '10.0.2.0/24', '192.168.0.0/16', 'dx:a')
    assert r.lookup(1, ip4('10.0.1.5'), ip4('192.168.3.4')) == 'vgw'
    assert r.lookup(1, ip4('10.0.1.5'), ip4('8.8.8.8')) == 'igw'
    assert r.lookup(1, ip4('10.0.2.5'), ip4('192.168.3.4')) == 'dx:a'
    assert r.lookup(1, ip4('10.0.2.5'), ip4('8.8.8.8')) is None and r.lookup(2, ip4('10.0.1.5'), ip4('8.8.8.8')) is None
