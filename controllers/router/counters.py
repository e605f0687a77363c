"""What the router app asks each switch for its counters, and only that (issue 8).

Dumping every flow of every switch each second cost most of a core at 1,000 instances (7,000
flows a host, all parsed in Python) and slowed every packet of the lab.  Instead:

- drops: one aggregate request per drop reason, by the reason's exact cookie (OVS finds those
  flows in its cookie index, without walking its tables), every poll;
- flow logs: the flow statistics of the learned counting flows only (their exact cookie, table
  FLOW_LOG), every poll, as records need their packets;
- services-throttled: the statistics of every meter (OpenFlow cannot ask for a range), of which
  the ENIs' services meters' drop bands are summed, every poll;
- cache hits and ARP replies: aggregates over one table each, every SLOW_EVERY polls.

Each request has a key; the reply's packet count is that key's counter (`Counters`).
"""
from controllers import pipeline as P
from controllers.router import flow_log, ofp

SLOW_EVERY = 5                      # cache hits and ARP replies: every 5th poll
THROTTLED = ('drop', 'services-throttled')     # counted by meters, not by drop flows
DROP_KEYS = tuple(('drop', reason) for reason in sorted(P.DROP_REASONS.values()) if reason != THROTTLED[1])
CACHE_HITS = 'cache_hits'           # cache flows of MAPPING: packets routed from the cache
ARP_KEYS = (('arp', P.KIND_CACHE), ('arp', P.KIND_GATEWAY))   # ARP requests answered in the switch
FLOW_LOG = 'flow_log'               # the learned counting flows' statistics (flow_log.py)


def _aggregate(table, cookie, mask):
    return ofp.parser.OFPAggregateStatsRequest(None, 0, table, ofp.ofp.OFPP_ANY, ofp.ofp.OFPG_ANY,
                                               cookie, mask, ofp.match())


def _kind(kind, table):
    return _aggregate(table, P.cookie(kind), P.KIND_MASK)


def flow_log_request():
    return ofp.parser.OFPFlowStatsRequest(None, 0, P.FLOW_LOG, ofp.ofp.OFPP_ANY, ofp.ofp.OFPG_ANY,
                                          P.cookie(P.KIND_FLOW_LOG), ofp.ALL, ofp.match())


def flow_log_counting(stats):
    """The learned counting flows among the statistics of flow_log_request() (not their learning flows)."""
    return [s for s in stats if s.cookie == P.cookie(P.KIND_FLOW_LOG) and s.priority == flow_log.LEARNED_PRIORITY]


def meter_request():
    return ofp.parser.OFPMeterStatsRequest(None, 0, ofp.ofp.OFPM_ALL)


def throttled(stats):
    """The packets the ENIs' services meters dropped, from the meter statistics of meter_request()."""
    return sum(b.packet_band_count for s in stats if P.is_services_meter(s.meter_id) for b in s.band_stats)


def requests(tick):
    """[(key, request)] of poll number `tick` (counted from 0)."""
    out = [(FLOW_LOG, flow_log_request()), (THROTTLED, meter_request())]
    out += [(key, _aggregate(ofp.ofp.OFPTT_ALL, P.drop_cookie(key[1]), ofp.ALL)) for key in DROP_KEYS]
    if tick % SLOW_EVERY == 0:
        out += [(CACHE_HITS, _kind(P.KIND_CACHE, P.MAPPING))]
        out += [(key, _kind(key[1], P.ARP)) for key in ARP_KEYS]
    return out


class Counters:
    """The latest packet count of each key (0 until its first reply)."""

    def __init__(self):
        self.packets = {}

    def take(self, key, packets):
        self.packets[key] = packets

    def drops(self):
        return {key[1]: self.packets.get(key, 0) for key in (*DROP_KEYS, THROTTLED)}

    def cache_hits(self):
        return self.packets.get(CACHE_HITS, 0)

    def arp_replies(self):
        return sum(self.packets.get(key, 0) for key in ARP_KEYS)
