"""One physical host's virtual router: the flows of its OpenFlow pipeline.

The agent knows only its own instances and its own cache, both filled by the mapping
service.  Methods follow the packet's journey (see pipeline.py).
"""
from controllers import pipeline as P
from controllers.firewall_flows import LEARNED_PRIORITY, FirewallFlows
from controllers.flows import FlowWriter

IP, ARP_TYPE = 0x0800, 0x0806


class HostAgent:
    def __init__(self, dp, host, peers, mode, subnets, enforce_groups=True):
        self.dp = dp
        self.host = host                  # dict: name, underlay_ip
        self.name = host['name']
        self.peers = peers                # VNI -> set of peered VNIs
        self.mode = mode
        self.fw = FlowWriter(dp)
        self.subnets = subnets            # subnet id -> dict(index, vni, cidr, acl, routes, flow_logs)
        self.firewall = FirewallFlows(self.fw, subnets, enforce_groups)
        self.ports = {}                   # interface name -> ofport
        self.local = {}                   # key -> Entry of an instance running here
        self.plugged = {}                 # key -> ofport its flows were installed for
        self.cache = {}                   # key -> Entry (remote and local destinations)
        self.gateways = set()             # (vni, gateway IP) answered by the VPC router
        self.counters = dict(packet_in=0, cache_misses=0)
        self.polled = {}                  # drop reason -> packets, from flow stats
        self.decided = {}                 # drop reason -> packets the agent dropped itself
        self.cache_hits = 0               # packets routed from the cache (flow stats)
        self.arp_replies = 0              # ARP requests answered in the switch (flow stats)
        self.ready = False

    # ---- the pipeline every host starts with ------------------------------------
    def install_base(self):
        fw, parser = self.fw, self.fw.parser
        fw.delete()
        fw.add_meter(P.ALERT_METER, pps=50, burst=20)
        reactive = self.mode == 'reactive'

        def miss(table, reason, controller=False):
            if reactive and table in (P.ARP, P.MAPPING, P.CHECK):
                fw.add(table, 0, parser.OFPMatch(), [fw.to_controller()],
                       cookie=P.cookie(P.KIND_MISS, table))
                return
            fw.add(table, 0, parser.OFPMatch(), [fw.to_controller()] if controller else (),
                   cookie=P.cookie(P.KIND_DROP, P.REASON_CODE[reason]),
                   meter=P.ALERT_METER if controller else None)
        miss(P.CLASSIFY, 'unknown-port')
        miss(P.ARP, 'arp-unknown-target')
        miss(P.MAPPING, 'no-mapping')
        miss(P.CHECK, 'unregistered-source', controller=True)
        miss(P.DESTINATION, 'no-local-destination')
        miss(P.DELIVER, 'no-local-destination')
        # step 7 begins where encapsulated packets come in
        fw.add(P.CLASSIFY, 100, parser.OFPMatch(in_port=P.TUNNEL_PORT), goto=P.CHECK,
               cookie=P.cookie(P.KIND_BASE))
        self.firewall.install_base()

    # ---- instances running on this host -----------------------------------------
    def port_added(self, name, ofport):
        self.ports[name] = ofport
        for _key, entry in self.local.items():
            if entry.port_name == name:
                self._plug(entry)

    def port_removed(self, name):
        ofport = self.ports.pop(name, None)
        for key, entry in list(self.local.items()):
            if entry.port_name == name and self.plugged.get(key) == ofport:
                self._unplug(entry)

    def add_local(self, entry):
        if entry.key in self.local:
            self._unplug(self.local[entry.key])
        self.local[entry.key] = entry
        if entry.port_name in self.ports:
            self._plug(entry)

    def remove_local(self, key):
        entry = self.local.pop(key, None)
        if entry is not None:
            self._unplug(entry)

    def waiting_for_ports(self):
        return sorted(e.instance for k, e in self.local.items() if k not in self.plugged)

    def _plug(self, e):
        """Anti-spoofing and VPC tagging where the instance's packets enter, and the
        last hop (step 8) to its port."""
        fw, parser = self.fw, self.fw.parser
        port = self.ports[e.port_name]
        if self.plugged.get(e.key) == port:
            return
        owner = P.cookie(P.KIND_LOCAL, e.ident)
        subnet = self.subnets[e.subnet]
        fw.add(P.CLASSIFY, 100, parser.OFPMatch(in_port=port, eth_src=e.mac, eth_type=IP,
                                                 ipv4_src=e.ip),
               [fw.set(**{P.REG_SRC_ENI: e.ident}), fw.set(**{P.REG_SUBNET: subnet['index']})],
               metadata=e.vni, goto=P.EGRESS_SG, cookie=owner)
        fw.add(P.CLASSIFY, 100, parser.OFPMatch(in_port=port, eth_src=e.mac,
                                                 eth_type=ARP_TYPE, arp_spa=e.ip,
                                                 arp_sha=e.mac),
               metadata=e.vni, goto=P.ARP, cookie=owner)
        # anything else from the port is spoofed, except non-IPv4 frames from the
        # instance's own MAC (this VPC carries IPv4 only): those are just unsupported
        spoofed = dict(actions=[fw.to_controller()], meter=P.ALERT_METER,
                       cookie=P.cookie(P.KIND_DROP, P.REASON_CODE['spoofed-source']))
        for eth_type in (IP, ARP_TYPE):
            fw.add(P.CLASSIFY, 30, parser.OFPMatch(in_port=port, eth_type=eth_type), **spoofed)
        fw.add(P.CLASSIFY, 20, parser.OFPMatch(in_port=port, eth_src=e.mac),
               cookie=P.cookie(P.KIND_DROP, P.REASON_CODE['unsupported-protocol']))
        fw.add(P.CLASSIFY, 10, parser.OFPMatch(in_port=port), **spoofed)
        for vni in {e.vni} | self.peers.get(e.vni, set()):
            fw.add(P.DESTINATION, 100, parser.OFPMatch(metadata=vni, eth_type=IP, ipv4_dst=e.ip),
                   [fw.set(**{P.REG_DST_ENI: e.ident}), fw.set(**{P.REG_SUBNET: subnet['index']}),
                    fw.set(eth_dst=e.mac)], goto=P.INGRESS_NACL, cookie=owner)
        log = self.firewall.log(P.LOG_ACCEPT, eni=e.ident) if subnet['flow_logs'] else []
        fw.add(P.DELIVER, 100, parser.OFPMatch(eth_type=IP, **{P.REG_DST_ENI: e.ident}),
               log + [fw.output(port)], cookie=owner)
        self.firewall.plug(e, subnet)
        if (e.vni, e.gateway_ip) not in self.gateways:
            self.gateways.add((e.vni, e.gateway_ip))
            fw.add(P.ARP, 100, parser.OFPMatch(metadata=e.vni, eth_type=ARP_TYPE, arp_op=1,
                                               arp_tpa=e.gateway_ip),
                   fw.arp_reply(P.ROUTER_MAC, e.gateway_ip), cookie=P.cookie(P.KIND_GATEWAY))
        self.plugged[e.key] = port

    def _unplug(self, e):
        port = self.plugged.pop(e.key, None)
        self.fw.delete_owner(P.KIND_LOCAL, e.ident)
        self.firewall.unplug(e)
        if port is not None:
            self.fw.delete(table=P.CLASSIFY, match=self.fw.parser.OFPMatch(in_port=port))

    def local_by_port(self, ofport):
        return next((e for k, e in self.local.items() if self.plugged.get(k) == ofport), None)

    # ---- the host cache: steps 2-7 ------------------------------------------------
    def local_vnis(self):
        return {e.vni for e in self.local.values()}

    def senders_to(self, e):
        """Local VPCs whose instances may send to entry `e` (its own VPC or a peer)."""
        return {v for v in self.local_vnis() if v == e.vni or e.vni in self.peers.get(v, ())}

    def cache_add(self, e):
        fw, parser = self.fw, self.fw.parser
        if e.key in self.cache:
            self.cache_remove(e.key)
        self.cache[e.key] = e
        owner = P.cookie(P.KIND_CACHE, e.ident)
        for vni in self.senders_to(e):
            # steps 1-3: the synthetic ARP reply, for the sender's own VPC only
            if vni == e.vni:
                fw.add(P.ARP, 100, parser.OFPMatch(metadata=vni, eth_type=ARP_TYPE, arp_op=1,
                                                   arp_tpa=e.ip),
                       fw.arp_reply(e.mac, e.ip), cookie=owner)
            # steps 4-6: where the destination lives, and the encapsulation to get there
            match = parser.OFPMatch(metadata=vni, eth_type=IP, ipv4_dst=e.ip)
            if e.host == self.name:
                fw.add(P.MAPPING, 100, match, goto=P.DESTINATION, cookie=owner)
            else:
                fw.add(P.MAPPING, 100, match,
                       [fw.set(eth_dst=e.mac), fw.set(tunnel_id=vni),
                        fw.set(tun_ipv4_dst=e.host_ip), fw.output(P.TUNNEL_PORT)],
                       cookie=owner)
        if e.host != self.name:
            # step 7: packets from e are accepted only from e's host, VNI, IP and MAC
            fw.add(P.CHECK, 100, parser.OFPMatch(in_port=P.TUNNEL_PORT, tunnel_id=e.vni,
                                                 tun_ipv4_src=e.host_ip, eth_src=e.mac,
                                                 eth_type=IP, ipv4_src=e.ip),
                   metadata=e.vni, goto=P.DESTINATION, cookie=owner)

    def cache_remove(self, key):
        e = self.cache.pop(key, None)
        if e is not None:
            self.fw.delete_owner(P.KIND_CACHE, e.ident)

    def apply(self, plan):
        """A push from the mapping service; local instances first, since the cache
        flows depend on which VPCs run here."""
        senders_before = {k: self.senders_to(e) for k, e in self.cache.items()}
        for key in plan.local_removals:
            self.remove_local(key)
        for e in plan.local_upserts:
            self.add_local(e)
        for key in plan.removals:
            self.cache_remove(key)
        for e in plan.upserts:
            self.cache_add(e)
        for key, compiled in plan.security_groups.items():
            self.firewall.set_groups(self.local[key], compiled)
        # a VPC that arrived or left changes which senders an unchanged entry needs
        fresh = {e.key for e in plan.upserts}
        for key, senders in senders_before.items():
            if key in self.cache and key not in fresh and \
                    self.senders_to(self.cache[key]) != senders:
                self.cache_add(self.cache[key])

    # ---- counters -------------------------------------------------------------------
    def count_drop(self, reason):
        self.decided[reason] = self.decided.get(reason, 0) + 1

    def drops(self):
        return {r: self.polled.get(r, 0) + self.decided.get(r, 0)
                for r in sorted(P.DROP_REASONS.values())}

    def take_flow_stats(self, stats):
        """Drop, cache-hit and ARP counters; returns the flow-log counting flows."""
        polled, hits, arp, counting = {}, 0, 0, []
        for s in stats:
            kind = P.cookie_kind(s.cookie)
            if kind == P.KIND_DROP:
                reason = P.DROP_REASONS.get(P.cookie_ident(s.cookie))
                polled[reason] = polled.get(reason, 0) + s.packet_count
            elif kind == P.KIND_CACHE and s.table_id == P.MAPPING:
                hits += s.packet_count
            elif kind in (P.KIND_CACHE, P.KIND_GATEWAY) and s.table_id == P.ARP:
                arp += s.packet_count
            elif kind == P.KIND_FLOW_LOG and s.priority == LEARNED_PRIORITY:
                counting.append(s)
        self.polled, self.cache_hits, self.arp_replies = polled, hits, arp
        return counting

    def describe(self):
        return dict(host=self.name, underlay_ip=self.host['underlay_ip'], ready=self.ready,
                    local=sorted(e.instance for e in self.local.values()),
                    waiting_for_ports=self.waiting_for_ports(),
                    cache=[dict(vni=e.vni, ip=e.ip, host=e.host, mac=e.mac, eni=e.eni,
                                instance=e.instance, version=e.version)
                           for e in sorted(self.cache.values(), key=lambda e: e.key)],
                    counters=dict(self.counters, cache_hits=self.cache_hits,
                                  arp_replies=self.arp_replies),
                    drops=self.drops())
