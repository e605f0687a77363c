"""NLBs and PrivateLink on Hyperplane nodes with real packets (topologies/hyperplane.yaml): listeners,
a connection that stays on its target, health checks that take a dead target out and back in, the
client's address preserved, an internet-facing NLB through its elastic IP, and an interface endpoint
between two VPCs with the same CIDR (even the same address on both sides)."""
import contextlib
import time

import pytest
from conftest import topology
from hyperplane_helpers import ask, client, once, server

from testbed.lab import Lab

INTERNET = '198.51.100.10'


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('hyperplane.yaml')) as lab:
        yield lab


def lb(lab, vpc, name):
    return lab.topology.vpcs[vpc].load_balancers[name]


def until(what, timeout):
    """Polls `what()` until it is true; (seconds it took, the value).  The deadline is generous:
    a loaded machine delays health checks, and the test asserts the behaviour, not the time."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = what()
        if value:
            return time.monotonic() - t0, value
    raise AssertionError(f'not within {timeout} s')


@contextlib.contextmanager
def targets(lab, port, names=('web-1', 'web-2')):
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(server(lab.node(name), name, port))
        yield stack


def spread(lab, source, address, port, n=16):
    """The targets that answered n new connections (None for a connection that failed)."""
    return [(words or [None])[0] for words in (once(lab.node(source), address, port) for _ in range(n))]


def both_take_connections(lab, source, address, port):
    return until(lambda: set(spread(lab, source, address, port)) == {'web-1', 'web-2'}, 30)


def test_an_internal_nlb_spreads_connections_keeps_each_on_its_target_and_preserves_the_client(lab):
    nlb = lb(lab, 'blue', 'web-nlb').addresses[0].ip
    with targets(lab, 8080):
        both_take_connections(lab, 'app-1', nlb, 80)
        with client(lab.node('app-1'), nlb, 80) as conn:
            first = ask(conn, 'one')
            assert first[1].rpartition(':')[0] == lab.topology.vpcs['blue'].instances['app-1'].ip   # preserved
            assert all(ask(conn, str(i))[:2] == first[:2] for i in range(10))       # one target, one port
        assert once(lab.node('app-1'), nlb, 81) is None                             # no listener there


def test_a_target_that_stops_answering_leaves_within_its_checks_and_comes_back(lab):
    nlb = lb(lab, 'blue', 'web-nlb')
    hc = nlb.health_check
    with server(lab.node('web-2'), 'web-2', 8080):
        with server(lab.node('web-1'), 'web-1', 8080):
            both_take_connections(lab, 'app-1', nlb.addresses[0].ip, 80)
            with client(lab.node('app-1'), nlb.addresses[0].ip, 80) as kept:
                kept_on = ask(kept, 'before')[0]
        # web-1's server is gone: its checks fail, and after `unhealthy` of them it takes no new flow
        took, _ = until(lambda: set(spread(lab, 'app-1', nlb.addresses[0].ip, 80)) == {'web-2'},
                        10 * hc.interval_s * hc.unhealthy)
        print(f'web-1 out after {took:.1f} s (interval {hc.interval_s} s x unhealthy {hc.unhealthy})')
        with server(lab.node('web-1'), 'web-1', 8080):
            took, _ = both_take_connections(lab, 'app-1', nlb.addresses[0].ip, 80)
            print(f'web-1 back after {took:.1f} s')
    assert kept_on in ('web-1', 'web-2')


def test_a_connection_to_a_target_port_that_bypasses_the_nlb_still_works(lab):
    web1 = lab.topology.vpcs['blue'].instances['web-1'].ip
    with targets(lab, 8080, ('web-1',)):
        words = once(lab.node('app-1'), web1, 8080)
    assert words and words[0] == 'web-1', words


def test_an_internet_facing_nlb_is_reached_at_its_elastic_ip_and_sees_the_internet_client(lab):
    address = lb(lab, 'blue', 'pub-nlb').addresses[0]
    assert address.public_ip
    with targets(lab, 8081):
        until(lambda: set(spread(lab, 'example-web', address.public_ip, 80)) == {'web-1', 'web-2'}, 30)
        words = once(lab.node('example-web'), address.public_ip, 80)
    assert words[1].rpartition(':')[0] == INTERNET          # the client's address preserved
    assert once(lab.node('example-web'), address.ip, 80) is None        # the private address is not public


def test_privatelink_between_vpcs_with_the_same_cidr(lab):
    blue, shop = lab.topology.vpcs['blue'], lab.topology.vpcs['shop']
    endpoint = blue.endpoints['api-ep']
    assert blue.instances['app-1'].ip == shop.instances['api-1'].ip        # the same address on both sides
    assert endpoint.subnet == 'blue-priv' and endpoint.ip.startswith('10.0.1.')    # in the consumer's subnet
    provider_nlb = lb(lab, 'shop', 'api-nlb').addresses[0].ip
    with targets(lab, 8443, ('api-1', 'api-2')):
        def answers():
            found = {w[0]: w for w in (once(lab.node('app-1'), endpoint.ip, 443) for _ in range(16)) if w}
            return found if set(found) == {'api-1', 'api-2'} else None
        _, seen = until(answers, 30)
        # the provider sees the NLB's private address (no proxy protocol), never the consumer's
        assert {w[1].rpartition(':')[0] for w in seen.values()} == {provider_nlb}
        with client(lab.node('app-1'), endpoint.ip, 443) as conn:
            first = ask(conn, 'one')
            assert all(ask(conn, str(i))[:2] == first[:2] for i in range(5))
        # app-1's twin in shop is untouched: its own traffic stays in shop
        assert once(lab.node('api-2'), shop.instances['api-1'].ip, 8443)[0] == 'api-1'


def test_an_endpoint_connection_survives_the_loss_of_its_node(lab):
    endpoint = lab.topology.vpcs['blue'].endpoints['api-ep']
    with targets(lab, 8443, ('api-1', 'api-2')), client(lab.node('app-1'), endpoint.ip, 443) as conn:
        first = ask(conn, 'one')
        served = [r for r in lab.shards() if r[1] == 'api-ep'][0][3]
        for node in served:                 # whichever node had it, lose it
            lab.fail_node(node)
            try:
                assert ask(conn, f'without {node}')[:2] == first[:2]
            finally:
                lab.restore_node(node)
        assert ask(conn, 'all back')[:2] == first[:2]


def test_an_nlb_connection_survives_the_loss_of_its_node(lab):
    nlb = lb(lab, 'blue', 'web-nlb').addresses[0].ip
    with targets(lab, 8080), client(lab.node('app-1'), nlb, 80) as conn:
        first = ask(conn, 'one')
        served = [r for r in lab.shards() if r[1] == 'web-nlb'][0][3]
        for node in served:
            lab.fail_node(node)
            try:
                assert ask(conn, f'without {node}')[:2] == first[:2]        # same target, same client port
            finally:
                lab.restore_node(node)
