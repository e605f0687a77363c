"""The hypervisor app: one HostAgent per physical host's bridge (datapath).

OpenFlow events come in here and go to the right agent; cache misses (reactive mode)
and suspicious packets (drop samples) are handled here, asking the mapping service.
"""
import logging
import time

from controllers import config
from controllers import pipeline as P
from controllers.compat import (
    CONFIG_DISPATCHER,
    MAIN_DISPATCHER,
    BaseApp,
    arp,
    ether_types,
    ethernet,
    hub,
    ipv4,
    ofp_event,
    ofproto_v1_3,
    packet,
    set_ev_cls,
    tcp,
    udp,
)
from controllers.events import EventAlert, EventCacheAck, EventCachePush, EventHostUp, LookupRequest
from controllers.flow_logs import FlowLogBook, key_of
from controllers.host_agent import HostAgent

STATS_INTERVAL_S = 1.0


class Hypervisor(BaseApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _EVENTS = [EventHostUp, EventCacheAck, EventAlert]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cfg = config.load()
        self.mode = cfg['mode']
        self.peers = cfg['peers']
        self.hosts = {h['dpid']: h for h in cfg['hosts']}
        self.subnets = cfg['subnets']
        self.enforce_groups = cfg['security_groups_enforced']
        self.flow_logs = FlowLogBook(cfg['flow_log_path'], cfg['vpcs'], time.time)
        self.agents = {}          # host name -> HostAgent
        self.barriers = {}        # (dpid, xid) -> change to acknowledge
        self.stats_parts = {}     # dpid -> flow stats received so far (multipart)
        self.ofp_errors = []
        self.logger.setLevel(logging.INFO)
        self.poller = hub.spawn(self._poll_stats)

    # ---- switches -----------------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def switch_features(self, ev):
        dp = ev.msg.datapath
        host = self.hosts.get(dp.id)
        if host is None:
            self.logger.warning('datapath %016x is not a physical host of this lab', dp.id)
            return
        agent = HostAgent(dp, host, self.peers, self.mode, self.subnets, self.enforce_groups)
        self.agents[agent.name] = agent
        agent.install_base()
        dp.send_msg(dp.ofproto_parser.OFPPortDescStatsRequest(dp, 0))
        self.send_event_to_observers(EventHostUp(agent.name))

    def _agent(self, dp):
        host = self.hosts.get(dp.id)
        return self.agents.get(host['name']) if host else None

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, MAIN_DISPATCHER)
    def port_desc(self, ev):
        agent = self._agent(ev.msg.datapath)
        for port in ev.msg.body:
            if agent and port.port_no < ev.msg.datapath.ofproto.OFPP_MAX:
                agent.port_added(port.name.decode(), port.port_no)

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def port_status(self, ev):
        msg, agent = ev.msg, self._agent(ev.msg.datapath)
        if agent is None:
            return
        name = msg.desc.name.decode()
        if msg.reason == msg.datapath.ofproto.OFPPR_DELETE:
            agent.port_removed(name)
        else:
            agent.port_added(name, msg.desc.port_no)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def ofp_error(self, ev):
        # a rejected flow-mod otherwise fails silently
        m = ev.msg
        self.ofp_errors.append(dict(dpid=m.datapath.id, type=m.type, code=m.code))
        self.logger.error('OpenFlow error from datapath %016x: type=%d code=%d data=%s',
                          m.datapath.id, m.type, m.code, m.data[:64].hex())

    # ---- pushes from the mapping service ------------------------------------------
    @set_ev_cls(EventCachePush)
    def cache_push(self, ev):
        agent = self.agents.get(ev.host)
        if agent is None:
            return
        agent.apply(ev.plan)
        for e in ev.plan.local_upserts:
            self.flow_logs.know(e)
        xid = agent.fw.barrier()
        self.barriers[(agent.dp.id, xid)] = ev.change

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def barrier_reply(self, ev):
        dp = ev.msg.datapath
        if (dp.id, ev.msg.xid) not in self.barriers:
            return
        change = self.barriers.pop((dp.id, ev.msg.xid))
        agent = self._agent(dp)
        agent.ready = True
        self.send_event_to_observers(EventCacheAck(agent.name, change))

    # ---- packets the switch could not decide alone ---------------------------------
    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in(self, ev):
        msg = ev.msg
        agent = self._agent(msg.datapath)
        if agent is None:
            return
        agent.counters['packet_in'] += 1
        kind, ident = P.cookie_kind(msg.cookie), P.cookie_ident(msg.cookie)
        pkt = packet.Packet(msg.data)
        if msg.table_id == P.FLOW_LOG:
            self._first_packet(msg, pkt)
        elif kind == P.KIND_DROP and ident == P.REASON_CODE['spoofed-source']:
            self._spoofed(agent, msg, pkt)
        elif msg.table_id == P.CHECK:
            self._check_source(agent, msg, pkt)
        elif kind == P.KIND_MISS and msg.table_id == P.ARP:
            self._arp_miss(agent, msg, pkt)
        elif kind == P.KIND_MISS and msg.table_id == P.MAPPING:
            self._route_miss(agent, msg, pkt)

    def _lookup(self, agent, vni, ip, peered=True, subscribe=True):
        req = LookupRequest(agent.name if subscribe else None, vni, ip, peered)
        return self.send_request(req).entry

    def _arp_miss(self, agent, msg, pkt):
        """Reactive steps 2-3: ask the mapping service, cache, answer."""
        agent.counters['cache_misses'] += 1
        req, eth = pkt.get_protocol(arp.arp), pkt.get_protocol(ethernet.ethernet)
        entry = self._lookup(agent, msg.match['metadata'], req.dst_ip, peered=False) \
            if req.opcode == arp.ARP_REQUEST else None
        if entry is None:
            agent.count_drop('arp-unknown-target')
            return
        agent.cache_add(entry)
        reply = packet.Packet()
        reply.add_protocol(ethernet.ethernet(ethertype=ether_types.ETH_TYPE_ARP,
                                             dst=eth.src, src=entry.mac))
        reply.add_protocol(arp.arp(opcode=arp.ARP_REPLY, src_mac=entry.mac, src_ip=entry.ip,
                                   dst_mac=req.src_mac, dst_ip=req.src_ip))
        reply.serialize()
        agent.fw.packet_out(reply.data, [agent.fw.output(msg.match['in_port'])])

    def _route_miss(self, agent, msg, pkt):
        """Reactive steps 4-5: where does the destination live?"""
        agent.counters['cache_misses'] += 1
        ip = pkt.get_protocol(ipv4.ipv4)
        entry = self._lookup(agent, msg.match['metadata'], ip.dst)
        if entry is None:
            agent.count_drop('no-mapping')
            return
        agent.cache_add(entry)
        # the switch handles messages in order: the new flows are in place for this one
        agent.fw.packet_out(msg.data, [agent.fw.output(agent.dp.ofproto.OFPP_TABLE)],
                            in_port=msg.match['in_port'])

    def _check_source(self, agent, msg, pkt):
        """Step 7 on a miss: is the inner source registered on the sending host?"""
        vni, tun_src = msg.match.get('tunnel_id'), msg.match.get('tun_ipv4_src')
        eth, ip = pkt.get_protocol(ethernet.ethernet), pkt.get_protocol(ipv4.ipv4)
        src_ip = ip.src if ip else None
        entry = self._lookup(agent, vni, src_ip, peered=False,
                             subscribe=self.mode == 'reactive') if ip else None
        if entry is not None and entry.host_ip == tun_src and entry.mac == eth.src:
            if self.mode == 'reactive':
                agent.counters['cache_misses'] += 1
                agent.cache_add(entry)
                fw = agent.fw
                fw.packet_out(msg.data, [fw.set(tunnel_id=vni), fw.set(tun_ipv4_src=tun_src),
                                         fw.output(agent.dp.ofproto.OFPP_TABLE)],
                              in_port=P.TUNNEL_PORT)
            return
        if entry is None:
            why = f'VNI {vni} has no instance {src_ip}'
        elif entry.host_ip != tun_src:
            why = f'{src_ip} (VNI {vni}) runs on {entry.host} ({entry.host_ip}), but the packet came from {tun_src}'
        else:
            why = f'{src_ip} (VNI {vni}) has MAC {entry.mac}, the packet says {eth.src}'
        if self.mode == 'reactive':
            agent.count_drop('unregistered-source')
        self.send_event_to_observers(EventAlert(
            agent.name, 'unregistered-source', f'{tun_src}/{vni}/{src_ip}',
            'encapsulated packet dropped: ' + why))

    def _spoofed(self, agent, msg, pkt):
        local = agent.local_by_port(msg.match['in_port'])
        eth = pkt.get_protocol(ethernet.ethernet)
        ip, a = pkt.get_protocol(ipv4.ipv4), pkt.get_protocol(arp.arp)
        src_ip = ip.src if ip else (a.src_ip if a else '-')
        who = f'{local.instance} ({local.eni}, {local.ip} {local.mac})' \
            if local else 'port %d' % msg.match['in_port']
        self.send_event_to_observers(EventAlert(
            agent.name, 'spoofed-source', f'{eth.src}/{src_ip}',
            f'instance {who} sent from {src_ip} {eth.src}, not its own address'))

    # ---- flow logs ------------------------------------------------------------------------
    def _first_packet(self, msg, pkt):
        """The packet that learned a counting flow is not counted by it: count it here."""
        ip = pkt.get_protocol(ipv4.ipv4)
        ports = pkt.get_protocol(tcp.tcp) or pkt.get_protocol(udp.udp)
        fields = dict(ipv4_src=ip.src, ipv4_dst=ip.dst, ip_proto=ip.proto)
        if ports:
            fields.update(tcp_src=ports.src_port, tcp_dst=ports.dst_port)
        key = key_of(fields, msg.match[P.REG_LOG_ENI], msg.match[P.REG_LOG_ACTION])
        self.flow_logs.count(key, 1, msg.total_len)

    def _count_learned(self, stats, final=False):
        for s in stats:
            fields = dict(s.match.items())
            key = key_of(fields, fields[P.REG_LOG_ENI], fields[P.REG_LOG_ACTION])
            self.flow_logs.observe(key, s.packet_count, s.byte_count, final)

    @set_ev_cls(ofp_event.EventOFPFlowRemoved, MAIN_DISPATCHER)
    def flow_removed(self, ev):
        if P.cookie_kind(ev.msg.cookie) == P.KIND_FLOW_LOG:
            self._count_learned([ev.msg], final=True)

    # ---- counters ---------------------------------------------------------------------
    def _poll_stats(self):
        while True:
            for agent in list(self.agents.values()):
                dp = agent.dp
                dp.send_msg(dp.ofproto_parser.OFPFlowStatsRequest(dp))
            self.flow_logs.flush()
            hub.sleep(STATS_INTERVAL_S)

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def flow_stats(self, ev):
        dp = ev.msg.datapath
        parts = self.stats_parts.setdefault(dp.id, [])
        parts.extend(ev.msg.body)
        if ev.msg.flags & dp.ofproto.OFPMPF_REPLY_MORE:
            return
        agent = self._agent(dp)
        if agent:
            self._count_learned(agent.take_flow_stats(self.stats_parts.pop(dp.id)))
