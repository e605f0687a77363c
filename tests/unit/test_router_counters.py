"""The router app's statistics requests (controllers/router/counters.py): each asks for one kind of
flow only, and what they count is what a dump of every flow counted before (issue 8)."""
import dataclasses

import pytest
from fakeswitch import FakeSwitch
from flowcount import SUBNET, lab, push

from controllers import pipeline as P
from controllers.router import counters, flow_log, ofp
from controllers.router.virtual_router import VirtualRouter


@dataclasses.dataclass
class Stat:
    """One flow's statistics, as a flow stats reply carries them."""
    table_id: int
    priority: int
    cookie: int
    packet_count: int


def programmed(instances=40, hosts=4):
    """Every flow of host h1 (flow logs on), and a few learned counting flows, each with its own count."""
    table, book = lab(instances, hosts)
    router = VirtualRouter(dict(name='h1', underlay_ip='100.127.0.1'), table.peers, 'proactive',
                           {'subnet-a': dict(SUBNET, flow_logs=True)})
    switch = FakeSwitch().apply(router.start())
    for e in table.entries():
        if e.host == 'h1':
            switch.apply(router.port_added(e.port_name, 1 + len(router.ports)))
    switch.apply(push(book, table, 'h1', router))
    flows = [(f.table, f.priority, f.cookie) for f in switch.flows]
    flows += [(P.FLOW_LOG, flow_log.LEARNED_PRIORITY, P.cookie(P.KIND_FLOW_LOG))] * 3
    return router, [Stat(t, p, c, 10 * n + 1) for n, (t, p, c) in enumerate(flows)]


def answer(request, stats):
    """What OVS answers: the flows of the request's table whose cookie matches under its mask."""
    return [s for s in stats if request.table_id in (ofp.ofp.OFPTT_ALL, s.table_id)
            and s.cookie & request.cookie_mask == request.cookie & request.cookie_mask]


def dump_all(stats):
    """What the router counted from a dump of every flow, before these requests."""
    drops = dict.fromkeys(P.DROP_REASONS.values(), 0)
    hits = arp = 0
    for s in stats:
        kind = P.cookie_kind(s.cookie)
        if kind == P.KIND_DROP:
            drops[P.DROP_REASONS[P.cookie_ident(s.cookie)]] += s.packet_count
        elif kind == P.KIND_CACHE and s.table_id == P.MAPPING:
            hits += s.packet_count
        elif kind in (P.KIND_CACHE, P.KIND_GATEWAY) and s.table_id == P.ARP:
            arp += s.packet_count
    return drops, hits, arp


def meter_stats(router, dropped=0):
    """What OVS answers a meter statistics request: every meter, each service meter's band having
    dropped `dropped` packets (the others 5: they are not services-throttled)."""
    ids = P.ALERT_METER, P.CHECK_MISS_METER, *(m for e in router.local.values() for m in (
        P.eni_alert_meter(e.ident), P.eni_packet_in_meter(e.ident), P.eni_services_meter(e.ident)))
    return [ofp.parser.OFPMeterStats(meter_id=m, band_stats=[
        ofp.parser.OFPMeterBandStats(dropped if P.is_services_meter(m) else 5, 0)]) for m in ids]


def poll(router, stats, tick, meters=()):
    """One poll answered; returns the flow statistics the flow-log request got back."""
    got = []
    for key, request in counters.requests(tick):
        if isinstance(request, ofp.parser.OFPMeterStatsRequest):
            assert (key, request.meter_id) == (counters.THROTTLED, ofp.ofp.OFPM_ALL)
            router.polled.take(key, counters.throttled(meters))
            continue
        found = answer(request, stats)
        if isinstance(request, ofp.parser.OFPAggregateStatsRequest):
            router.polled.take(key, sum(s.packet_count for s in found))
        else:
            assert key == counters.FLOW_LOG
            got = counters.flow_log_counting(found)
    return got


def test_the_requests_count_what_a_dump_of_every_flow_counted():
    router, stats = programmed()
    poll(router, stats, 0)
    drops, hits, arp = dump_all(stats)
    described = router.describe()
    assert described['drops'] == drops and sum(drops.values()) > 0 and drops['services-throttled'] == 0
    assert described['counters']['cache_hits'] == hits > 0
    assert described['counters']['arp_replies'] == arp > 0


def test_the_flow_log_request_gets_only_the_learned_counting_flows():
    router, stats = programmed()
    learning = [s for s in stats if P.cookie_kind(s.cookie) == P.KIND_FLOW_LOG and s.priority != 100]
    assert learning                                     # flow logs are on: learning flows exist
    got = poll(router, stats, 0)
    assert len(got) == 3 and all(s.priority == flow_log.LEARNED_PRIORITY for s in got)
    assert len(answer(counters.flow_log_request(), stats)) == 3     # OVS sends no more than those


def test_drops_and_flow_logs_every_poll_cache_hits_and_arp_less_often():
    def keys(tick):
        return {k for k, _ in counters.requests(tick)}
    slow = {counters.CACHE_HITS, *counters.ARP_KEYS}
    assert slow <= keys(0) and not slow & keys(1)
    every = set(counters.DROP_KEYS) | {counters.FLOW_LOG, counters.THROTTLED}
    assert all(every <= keys(t) for t in range(counters.SLOW_EVERY))
    assert sum(bool(slow & keys(t)) for t in range(2 * counters.SLOW_EVERY)) == 2


def test_services_throttled_is_the_services_meters_drops_only():
    router, stats = programmed()
    meters = meter_stats(router, dropped=7)
    poll(router, stats, 0, meters)
    assert router.describe()['drops']['services-throttled'] == 7 * len(router.local) > 0
    poll(router, stats, 1, meter_stats(router))
    assert router.describe()['drops']['services-throttled'] == 0


@pytest.mark.parametrize('tick', [0, 1])
def test_drop_and_flow_log_requests_name_exact_cookies(tick):
    """An exact cookie (full mask) is found in OVS's cookie index, without a walk of every table."""
    for key, request in counters.requests(tick):
        if key == counters.THROTTLED:
            assert isinstance(request, ofp.parser.OFPMeterStatsRequest)
        elif key in counters.DROP_KEYS or key == counters.FLOW_LOG:
            assert request.cookie_mask == ofp.ALL
        else:                                          # the slow ones walk one table each
            assert request.table_id in (P.MAPPING, P.ARP)


def test_a_slow_counter_keeps_its_last_count_between_its_polls():
    router, stats = programmed()
    poll(router, stats, 0)
    hits = router.describe()['counters']['cache_hits']
    poll(router, [dataclasses.replace(s, packet_count=0) for s in stats], 1)
    assert router.describe()['counters']['cache_hits'] == hits
    assert sum(router.describe()['drops'].values()) == 0
