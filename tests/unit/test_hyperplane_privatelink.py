"""PrivateLink between two VPCs with the same CIDR: the provider sees the NLB's address, the
consumer the endpoint's, and only allowed accounts get an endpoint."""
import pytest
from scapy.layers.inet import ICMP, IP, TCP, IPerror
from test_appliances_packets import fresh

from testbed.appliances.hyperplane import nlb as n
from testbed.appliances.hyperplane import privatelink as pl
from testbed.appliances.hyperplane.flows import Drop, Forward, Reply
from testbed.appliances.packets import ip4
from testbed.state_store import EmbeddedStore
from testbed.topology.edge_model import EndpointService

# consumer and provider are both 10.0.0.0/16; the client and the target even share 10.0.1.10
CLIENT, ENDPOINT = '10.0.1.10', '10.0.1.50'
NLB_IP, TARGET = '10.0.1.100', '10.0.1.10'
SERVICE = EndpointService('api-svc', 'vpce-svc-0123456789abcdef0', 'shop', 'bob', 'web-nlb', ('alice',))


def endpoint(account='alice', node='hp1', store=None):
    balancer = n.Nlb('web-nlb', [ip4(NLB_IP)], [n.Listener(443, (n.Target('api-1', ip4(TARGET)),), 8443)],
                     lambda: 0.0)
    return pl.InterfaceEndpoint('vpce-0aa', ip4(ENDPOINT), account, SERVICE, balancer, ip4(NLB_IP),
                                store or EmbeddedStore(), node, lambda: 0.0)


def fwd(verdict):
    assert isinstance(verdict, Forward), verdict
    assert fresh(verdict.packet) == verdict.packet
    return IP(verdict.packet)


def test_overlapping_vpcs_talk_through_the_endpoint():
    ep = endpoint()
    to = fwd(ep.to_provider(bytes(IP(src=CLIENT, dst=ENDPOINT) / TCP(sport=40000, dport=443, flags='S'))))
    assert (to.src, to.dst, to[TCP].dport) == (NLB_IP, TARGET, 8443)        # provider sees the NLB
    port = to[TCP].sport
    reply = IP(src=TARGET, dst=NLB_IP) / TCP(sport=8443, dport=port, flags='SA')
    back = fwd(ep.to_consumer(bytes(reply)))
    assert (back.src, back[TCP].sport, back.dst, back[TCP].dport) == (ENDPOINT, 443, CLIENT, 40000)
    err = IP(src=TARGET, dst=NLB_IP) / ICMP(type=3, code=4, nexthopmtu=1400) / bytes(to)[:28]
    back = fwd(ep.to_consumer(bytes(err)))
    assert back.src == ENDPOINT and back.dst == CLIENT
    assert (back[IPerror].src, back[IPerror].dst) == (CLIENT, ENDPOINT)


def test_two_nodes_of_the_endpoint_never_pick_the_same_source_port():
    store = EmbeddedStore()
    a, b = endpoint(node='hp1', store=store), endpoint(node='hp2', store=store)
    ports = {fwd(ep.to_provider(bytes(IP(src=CLIENT, dst=ENDPOINT) / TCP(sport=s, dport=443, flags='S'))))[TCP].sport
             for s in range(40000, 40040) for ep in (a, b)}
    assert len(ports) == 80


def test_what_is_not_for_the_endpoint_is_dropped_or_reset():
    ep = endpoint()
    assert ep.to_provider(bytes(IP(src=CLIENT, dst='10.0.1.51') / TCP(dport=443))) == Drop('not-this-endpoint')
    assert ep.to_provider(bytes(IP(src=CLIENT, dst=ENDPOINT) / TCP(dport=80, flags='S'))) == Drop('no-listener')
    rst = ep.to_provider(bytes(IP(src=CLIENT, dst=ENDPOINT) / TCP(sport=1, dport=443, flags='A')))
    assert isinstance(rst, Reply) and IP(rst.packet).src == ENDPOINT and fresh(rst.packet) == rst.packet
    assert ep.to_consumer(bytes(IP(src=TARGET, dst=NLB_IP) / TCP(sport=8443, dport=5))) == Drop('no-flow')


@pytest.mark.parametrize('account, allowed', [('alice', True), ('bob', True), ('mallory', False)])
def test_only_the_owner_and_allowed_accounts_get_an_endpoint(account, allowed):
    if allowed:
        assert endpoint(account).id == 'vpce-0aa'
    else:
        with pytest.raises(pl.NotAllowed, match="account 'mallory' may not connect .* \\(allowed: bob, alice\\)"):
            endpoint(account)
