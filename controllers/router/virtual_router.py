"""One physical host's virtual router: its state, and the OpenFlow messages that make its switch
follow it.  Pure: every method returns messages (controllers/router/ofp.py) and the os-ken app
sends them; packet-ins are decided here from the packet and the mapping service's answers.

It knows only its own instances and its own cache, both filled by the mapping service.
"""
from collections import namedtuple

from controllers import pipeline as P
from controllers.compat import packet
from controllers.router import (
    arp,
    check,
    classify,
    counters,
    deliver,
    flow_log,
    mapping,
    network_acl,
    ofp,
    route_table,
    security_groups,
    services,
)
from controllers.router.hyperplane import Hyperplane

FRAG_NX_MATCH = 3     # OVS's switch-config fragment mode: first fragments keep their ports
# messages: to send; alerts: controllers.alerts.Alert to raise; flow_log: FlowKeys of packets to count
Outcome = namedtuple('Outcome', 'messages alerts flow_log', defaults=((), (), ()))


class VirtualRouter:
    def __init__(self, host, peers, mode, subnets, enforce_groups=True, hyperplane=None):
        self.host = host                  # dict: name, underlay_ip
        self.name = host['name']
        self.peers = peers                # VNI -> set of peered VNIs
        self.reactive = mode == 'reactive'
        self.subnets = subnets            # subnet id -> dict(index, vni, cidr, acl, routes, flow_logs)
        self.groups = security_groups.SecurityGroups(enforce_groups)
        self.hyperplane = hyperplane or Hyperplane()   # NAT gateways', NLBs', endpoints' nodes
        self.ports = {}                   # interface name -> ofport
        self.local = {}                   # key -> Entry of an instance running here
        self.plugged = {}                 # key -> ofport its flows were installed for
        self.cache = {}                   # key -> Entry (remote and local destinations)
        self.gateways = set()             # (vni, gateway IP) answered by the VPC router
        self.meters = set()               # meter ids the switch holds (added once each)
        self.counters = dict(packet_in=0, cache_misses=0)
        self.polled = counters.Counters()   # drops, cache hits, ARP replies: the switch's counts
        self.decided = {}                 # drop reason -> packets the router dropped itself
        self.ready = False

    # ---- the pipeline every host starts with ------------------------------------
    def start(self):
        # the switch may hold meters of an earlier connection: adding one again would fail
        self.meters = {P.ALERT_METER, P.CHECK_MISS_METER}
        out = [ofp.delete(), ofp.delete_meters(), ofp.meter(P.ALERT_METER, P.ALERT_PPS, P.ALERT_BURST),
               ofp.meter(P.CHECK_MISS_METER, P.CHECK_MISS_PPS, P.CHECK_MISS_BURST),
               # by default OVS zeroes the ports of every fragment, and no port rule could match one
               ofp.switch_config(FRAG_NX_MATCH)]
        out += classify.base() + arp.base(self.reactive) + security_groups.base(self.groups.enforce)
        out += network_acl.base() + route_table.base() + mapping.base(self.reactive)
        out += check.base(self.reactive) + deliver.base() + flow_log.base() + self.hyperplane.flows()
        for s in self.subnets.values():
            out += network_acl.subnet(s) + route_table.subnet(s, self.hyperplane)
        return out

    def set_failed_hyperplane(self, names):
        """Hyperplane nodes `names` have failed (and only those): each flow goes to a live node of its
        shard; LookupError for a node that does not exist."""
        self.hyperplane = self.hyperplane.with_failed(names)
        return self.hyperplane.buckets()

    # ---- instances running on this host -----------------------------------------
    def port_added(self, name, ofport):
        self.ports[name] = ofport
        return [m for e in list(self.local.values()) if e.port_name == name for m in self._plug(e)]

    def port_removed(self, name):
        ofport = self.ports.pop(name, None)
        return [m for k, e in list(self.local.items())
                if e.port_name == name and self.plugged.get(k) == ofport for m in self._unplug(e)]

    def add_local(self, entry):
        out = self._unplug(self.local[entry.key]) if entry.key in self.local else []
        self.local[entry.key] = entry
        return out + (self._plug(entry) if entry.port_name in self.ports else [])

    def remove_local(self, key):
        entry = self.local.pop(key, None)
        return self._unplug(entry) if entry is not None else []

    def waiting_for_ports(self):
        return sorted(e.instance for k, e in self.local.items() if k not in self.plugged)

    def local_by_port(self, ofport):
        return next((e for k, e in self.local.items() if self.plugged.get(k) == ofport), None)

    def _plug(self, e):
        """Where the instance's packets enter, its security groups, and the last hop to its port."""
        port = self.ports[e.port_name]
        if self.plugged.get(e.key) == port:
            return []
        subnet = self.subnets[e.subnet]
        out = self._meters(e) + classify.plug(e, port, subnet['index'])
        out += arp.plug(e, self.reactive) + mapping.plug(e, self.reactive)
        out += flow_log.plug(e) if subnet['flow_logs'] else []
        out += deliver.plug(e, port, subnet, {e.vni} | self.peers.get(e.vni, set()))
        out += self.groups.plug(e, subnet['flow_logs'])
        out += services.plug(e, port, subnet)          # DNS, metadata, DHCP (docs/services.md)
        if (e.vni, e.gateway_ip) not in self.gateways:
            self.gateways.add((e.vni, e.gateway_ip))
            out += arp.gateway(e.vni, e.gateway_ip)
        self.plugged[e.key] = port
        return out

    def _meters(self, e):
        """The ENI's own meters for alerts and packet-ins, added once (they stay when it leaves, for its
        return; its services meter comes and goes with its services flows)."""
        want = {P.eni_alert_meter(e.ident): (P.ENI_ALERT_PPS, P.ENI_ALERT_BURST),
                P.eni_packet_in_meter(e.ident): (P.ENI_PACKET_IN_PPS, P.ENI_PACKET_IN_BURST)}
        out = [ofp.meter(m, *rate) for m, rate in sorted(want.items()) if m not in self.meters]
        self.meters |= want.keys()
        return out

    def _unplug(self, e):
        port = self.plugged.pop(e.key, None)
        out = [ofp.delete_owner(P.KIND_LOCAL, e.ident), ofp.delete_owner(P.KIND_MISS, e.ident)]
        out += flow_log.unplug(e) + self.groups.unplug(e)
        return out + (classify.unplug(port) + services.unplug(e, self.subnets[e.subnet]) if port is not None else [])

    # ---- the host cache: steps 2-7 ------------------------------------------------
    def senders_to(self, e):
        """Local VPCs whose instances may send to entry `e` (its own VPC or a peer)."""
        return {v for v in {x.vni for x in self.local.values()} if v == e.vni or e.vni in self.peers.get(v, ())}

    def cache_add(self, e):
        out = self.cache_remove(e.key) if e.key in self.cache else []
        self.cache[e.key] = e
        senders = self.senders_to(e)
        return out + arp.cache_entry(e, senders) + mapping.cache_entry(e, senders, self.name) + \
            check.cache_entry(e, self.name)

    def cache_remove(self, key):
        e = self.cache.pop(key, None)
        return [ofp.delete_owner(P.KIND_CACHE, e.ident)] if e is not None else []

    def apply(self, plan):
        """A push from the mapping service; local instances first, since the cache
        flows depend on which VPCs run here."""
        senders_before = {k: self.senders_to(e) for k, e in self.cache.items()}
        out = [m for key in plan.local_removals for m in self.remove_local(key)]
        out += [m for e in plan.local_upserts for m in self.add_local(e)]
        out += [m for key in plan.removals for m in self.cache_remove(key)]
        out += [m for e in plan.upserts for m in self.cache_add(e)]
        out += self.groups.set_members(plan.group_members)
        out += [m for key, compiled in plan.security_groups.items()
                for m in self.groups.set_groups(self.local[key], compiled)]
        # a VPC that arrived or left changes which senders an unchanged entry needs
        fresh = {e.key for e in plan.upserts}
        for key, senders in senders_before.items():
            if key in self.cache and key not in fresh and self.senders_to(self.cache[key]) != senders:
                out += self.cache_add(self.cache[key])
        return out

    # ---- packets the switch could not decide alone ---------------------------------
    def packet_in(self, table, cookie, match, data, lookup):
        """An Outcome for a packet the switch sent up.  lookup(vni, ip, peered=True,
        subscribe=True, target=None) asks the mapping service (an Entry or None; `target`: only in
        that VPC, which must be vni's own or a peer)."""
        self.counters['packet_in'] += 1
        kind, ident = P.cookie_kind(cookie), P.cookie_ident(cookie)
        pkt = packet.Packet(data)
        if table == P.FLOW_LOG:
            return Outcome(flow_log=[flow_log.first_packet(match, pkt)])
        if kind == P.KIND_DHCP:
            return Outcome(services.on_dhcp(self, match, data))
        if kind == P.KIND_DROP and ident == P.REASON_CODE['spoofed-source']:
            in_port = match['in_port']
            return Outcome(alerts=[classify.spoofed(self.local_by_port(in_port), in_port, pkt)])
        if table == P.CHECK:
            ask = self._cache_first(lookup, lambda e: check.registered(e, match, pkt))
            entry, alert = check.on_miss(match, pkt, ask, self.reactive)
            if alert is not None:
                if self.reactive:
                    self.count_drop('unregistered-source')
                return Outcome(alerts=[alert])
            if not self.reactive:
                return Outcome()
            self.counters['cache_misses'] += 1
            return Outcome(self.cache_add(entry) + [check.resubmit(data, match)])
        if kind == P.KIND_MISS and table in (P.ARP, P.MAPPING):
            self.counters['cache_misses'] += 1
            sender_vni = match['metadata']
            ask = self._cache_first(lookup, lambda e: sender_vni in self.senders_to(e))
            if table == P.ARP:
                reason, (entry, negative) = 'arp-unknown-target', arp.on_miss(match['metadata'], pkt, ask)
            else:
                reason = 'no-mapping'
                entry, negative = mapping.on_miss(match['metadata'], match.get(P.REG_DST_VPC), pkt, ask)
            if entry is None:
                self.count_drop(reason)
                return Outcome([negative] if negative is not None else [])
            # the switch handles messages in order: the new flows decide the resubmitted packet
            return Outcome(self.cache_add(entry) + [ofp.resubmit(data, match['in_port'])])
        return Outcome()

    def _cache_first(self, lookup, usable):
        """`lookup`, but answered from this host's cache when it holds an entry `usable` for this
        packet: a packet that missed before the flows of an earlier miss were in (a retransmitted
        ARP request, the next packet of a burst, one the datapath's cache still sent up after the
        flows came) asks the mapping service nothing; its flows are sent again (they may be gone
        from the switch) ahead of the resubmitted packet."""
        def ask(vni, ip, peered=True, subscribe=True, target=None):
            e = self.cache.get((vni if target is None else target, ip))
            if e is not None and usable(e):
                return e
            return lookup(vni, ip, peered=peered, subscribe=subscribe, target=target)
        return ask

    # ---- counters -------------------------------------------------------------------
    def count_drop(self, reason):
        self.decided[reason] = self.decided.get(reason, 0) + 1

    def drops(self):
        polled = self.polled.drops()
        return {r: polled.get(r, 0) + self.decided.get(r, 0) for r in sorted(P.DROP_REASONS.values())}

    def describe(self):
        return dict(host=self.name, underlay_ip=self.host['underlay_ip'], ready=self.ready,
                    local=sorted(e.instance for e in self.local.values()),
                    waiting_for_ports=self.waiting_for_ports(),
                    cache=[dict(vni=e.vni, ip=e.ip, host=e.host, mac=e.mac, eni=e.eni,
                                instance=e.instance, version=e.version)
                           for e in sorted(self.cache.values(), key=lambda e: e.key)],
                    counters=dict(self.counters, cache_hits=self.polled.cache_hits(),
                                  arp_replies=self.polled.arp_replies()),
                    drops=self.drops())
