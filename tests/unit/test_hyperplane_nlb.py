"""The NLB on real packet bytes: the client's source kept, a flow's target kept, the same 5-tuple on
the same healthy target, and health checks that take a silent target out and back in on time."""
import pytest
from scapy.layers.inet import ICMP, IP, TCP, IPerror, TCPerror
from test_appliances_packets import fresh

from testbed.appliances.hyperplane import nlb as n
from testbed.appliances.hyperplane.flows import Drop, Forward
from testbed.appliances.packets import ip4

VIP, CLIENT = '10.0.1.100', '10.0.2.10'
TARGETS = tuple(n.Target(f'web-{i}', ip4(f'10.0.1.{10 + i}')) for i in range(1, 5))


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def lb(health=None, clock=None):
    return n.Nlb('web-nlb', [ip4(VIP)], [n.Listener(80, TARGETS, 8080)], clock or Clock(), health)


def pkt(sport, flags='S', dport=80, dst=VIP):
    return bytes(IP(src=CLIENT, dst=dst) / TCP(sport=sport, dport=dport, flags=flags))


def fwd(verdict):
    assert isinstance(verdict, Forward), verdict
    assert fresh(verdict.packet) == verdict.packet
    return IP(verdict.packet)


def test_only_the_destination_is_rewritten_and_the_reply_comes_from_the_listener():
    b = lb()
    out = fwd(b.forward(pkt(40000)))
    assert (out.src, out[TCP].sport, out[TCP].dport) == (CLIENT, 40000, 8080)   # client address preserved
    assert out.dst in {'10.0.1.11', '10.0.1.12', '10.0.1.13', '10.0.1.14'}
    reply = IP(src=out.dst, dst=CLIENT) / TCP(sport=8080, dport=40000, flags='SA')
    back = fwd(b.reverse(bytes(reply)))
    assert (back.src, back[TCP].sport, back.dst, back[TCP].dport) == (VIP, 80, CLIENT, 40000)
    err = IP(src=out.dst, dst=CLIENT) / ICMP(type=3, code=3) / bytes(out)[:28]
    back = fwd(b.reverse(bytes(err)))
    assert back.src == VIP and back[IPerror].dst == VIP and back[TCPerror].dport == 80


def test_what_is_not_for_a_listener_is_dropped():
    b = lb()
    assert b.forward(pkt(1, dport=443)) == Drop('no-listener')
    assert b.forward(pkt(1, dst='10.0.1.101')) == Drop('not-this-load-balancer')
    assert b.reverse(bytes(IP(src='10.0.1.11', dst=CLIENT) / TCP(sport=8080, dport=9))) == Drop('no-flow')


def test_a_listener_without_targets_drops_new_flows():
    """The format lets a listener's targets be empty (AWS: a target group with none registered)."""
    b = n.Nlb('web-nlb', [ip4(VIP)], [n.Listener(80, (), 8080)], Clock())
    assert b.forward(pkt(40000)) == Drop('no-target')
    assert b.flows == {}


def test_flows_spread_and_a_5_tuple_keeps_its_healthy_target():
    b = lb()
    chosen = {sport: fwd(b.forward(pkt(sport))).dst for sport in range(40000, 40200)}
    assert len(set(chosen.values())) == 4
    again = lb()                                      # another node of the shard: the same choice
    assert all(fwd(again.forward(pkt(s))).dst == d for s, d in chosen.items())


def test_a_connection_stays_on_its_target_when_the_set_changes():
    checks = n.HealthChecks(TARGETS, interval_s=2, healthy_threshold=2, unhealthy_threshold=2)
    checks.healthy.update(TARGETS)
    clock = Clock()
    b = lb({80: checks}, clock)
    first = {s: fwd(b.forward(pkt(s))).dst for s in range(40000, 40100)}
    gone = TARGETS[0]
    checks.healthy.discard(gone)                      # web-1 leaves the healthy set
    assert all(fwd(b.forward(pkt(s, 'A'))).dst == d for s, d in first.items())      # flow table first
    fresh_flows = {s: fwd(b.forward(pkt(s))).dst for s in range(50000, 50100)}
    assert '10.0.1.11' not in fresh_flows.values()
    # with all four, the same 5-tuples pick the same targets, except those web-1 wins: only its flows moved
    again = lb()
    assert all(fwd(again.forward(pkt(s))).dst in (d, '10.0.1.11') for s, d in fresh_flows.items())
    clock.now += n.IDLE_TIMEOUT_S[6] + 1                # idle: the connection is forgotten
    assert all(fwd(b.forward(pkt(s))).dst != '10.0.1.11' for s in first)


def test_with_no_healthy_target_the_nlb_fails_open():
    b = lb({80: n.HealthChecks(TARGETS)})
    assert fwd(b.forward(pkt(1))).dst.startswith('10.0.1.1')


@pytest.mark.parametrize('interval, healthy, unhealthy', [(2, 2, 2), (30, 5, 2), (10, 3, 3)])
def test_a_silent_target_leaves_within_interval_x_unhealthy_and_comes_back(interval, healthy, unhealthy):
    web1 = TARGETS[0]
    checks = n.HealthChecks(TARGETS, interval, healthy, unhealthy)
    answering = set(TARGETS)
    stop = interval * (healthy + 1) + 0.5             # between two checks
    resume = stop + interval * (unhealthy + 2)
    now, log = 0.0, []
    while now <= resume + interval * (healthy + 2):
        if now == stop:
            answering.discard(web1)                   # web-1 stops answering
        if now == resume:
            answering.add(web1)                       # and answers again
        log += [(now, t, s) for t, s in checks.tick(now, lambda t: t in answering)]
        now += 0.5
    assert [(at, s) for at, t, s in log if t == web1][0] == (interval * (healthy - 1), 'healthy')  # after 'initial'
    out = next(at for at, t, s in log if t == web1 and s == 'unhealthy')
    back = next(at for at, t, s in log if t == web1 and s == 'healthy' and at > stop)
    assert stop < out <= stop + interval * unhealthy
    assert resume < back <= resume + interval * healthy
    assert all(t == web1 for _, t, s in log if s == 'unhealthy')


def test_an_nlb_from_the_topology_model_takes_its_listeners_and_health_check():
    from testbed.topology.edge_model import HealthCheck, LbAddress, Listener, LoadBalancer
    model = LoadBalancer('web-nlb', 'net/web-nlb/0123456789abcdef', 'blue', 'internal', ('blue-a',),
                         (Listener(80, 'tcp', ('web-1', 'web-2'), 8080),),
                         HealthCheck(port=8080, interval_s=2, healthy=2, unhealthy=2),
                         (LbAddress('blue-a', VIP),))
    b = n.from_model(model, [ip4(VIP)], Clock(), lambda name: ip4(f'10.0.1.1{name[-1]}'))
    checks = b.health[80]
    assert (checks.interval_s, checks.healthy_threshold, checks.unhealthy_threshold) == (2, 2, 2)
    assert fwd(b.forward(pkt(1234)))[TCP].dport == 8080
