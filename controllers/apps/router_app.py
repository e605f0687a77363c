"""The router app: one VirtualRouter (controllers/router/) per physical host's bridge (datapath).

OpenFlow events come in here and go to the host's router; what the router returns is stamped
with the datapath and sent.  Questions to the mapping service travel as its events.
"""
import logging
import subprocess
import time

from controllers import config
from controllers import pipeline as P
from controllers.compat import (
    CONFIG_DISPATCHER,
    MAIN_DISPATCHER,
    BaseApp,
    hub,
    ofp_event,
    ofproto_v1_3,
    set_ev_cls,
)
from controllers.events import (
    EventAlert,
    EventCacheAck,
    EventCachePush,
    EventHostUp,
    EventHyperplaneFailed,
    LookupRequest,
)
from controllers.router import counters, flow_log, security_groups
from controllers.router.hyperplane import Hyperplane
from controllers.router.virtual_router import VirtualRouter

STATS_INTERVAL_S = 1.0
MAX_OFP_ERRORS = 1000         # kept for the management API; older ones are counted only


class RouterApp(BaseApp):
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
        # the NAT gateways', NLBs' and endpoints' nodes; which have failed changes through the API
        self.hyperplane = Hyperplane(cfg.get('hyperplane'), {i['instance']: i['ip'] for i in cfg['instances']})
        self.flow_logs = flow_log.FlowLogBook(cfg['flow_log_path'], cfg['vpcs'], time.time)
        self.routers = {}         # host name -> VirtualRouter
        self.datapaths = {}       # host name -> its switch
        self.barriers = {}        # (dpid, xid) -> change to acknowledge
        self.stats_asked = {}     # (dpid, xid) -> counters key of a statistics request in flight
        self.stats_parts = {}     # (dpid, xid) -> flow stats received so far (multipart)
        self.ofp_errors = []
        self.ofp_errors_dropped = 0
        self.zones_limited = set()  # ENI zones whose conntrack limit is set
        self.logger.setLevel(logging.INFO)
        self.poller = hub.spawn(self._poll_stats)

    def _send(self, router, messages):
        dp = self.datapaths[router.name]
        for msg in messages:
            msg.datapath = dp
            dp.send_msg(msg)

    def _router(self, dp):
        host = self.hosts.get(dp.id)
        return self.routers.get(host['name']) if host else None

    # ---- switches -----------------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def switch_features(self, ev):
        dp = ev.msg.datapath
        host = self.hosts.get(dp.id)
        if host is None:
            self.logger.warning('datapath %016x is not a physical host of this lab', dp.id)
            return
        router = VirtualRouter(host, self.peers, self.mode, self.subnets, self.enforce_groups, self.hyperplane)
        # a new connection numbers its messages from 0 again
        self.stats_asked = {k: v for k, v in self.stats_asked.items() if k[0] != dp.id}
        self.routers[router.name], self.datapaths[router.name] = router, dp
        self._send(router, router.start())
        dp.send_msg(dp.ofproto_parser.OFPPortDescStatsRequest(dp, 0))
        self.send_event_to_observers(EventHostUp(router.name))

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, MAIN_DISPATCHER)
    def port_desc(self, ev):
        router = self._router(ev.msg.datapath)
        for port in ev.msg.body:
            if router and port.port_no < ev.msg.datapath.ofproto.OFPP_MAX:
                self._send(router, router.port_added(port.name.decode(), port.port_no))

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def port_status(self, ev):
        msg, router = ev.msg, self._router(ev.msg.datapath)
        if router is None:
            return
        name = msg.desc.name.decode()
        if msg.reason == msg.datapath.ofproto.OFPPR_DELETE:
            self._send(router, router.port_removed(name))
        else:
            self._send(router, router.port_added(name, msg.desc.port_no))

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def ofp_error(self, ev):
        # a rejected flow-mod otherwise fails silently
        m = ev.msg
        self.ofp_errors.append(dict(dpid=m.datapath.id, type=m.type, code=m.code))
        if len(self.ofp_errors) > MAX_OFP_ERRORS:
            del self.ofp_errors[0]
            self.ofp_errors_dropped += 1
        self.logger.error('OpenFlow error from datapath %016x: type=%d code=%d data=%s',
                          m.datapath.id, m.type, m.code, m.data[:64].hex())

    # ---- pushes from the mapping service ------------------------------------------
    @set_ev_cls(EventCachePush)
    def cache_push(self, ev):
        router = self.routers.get(ev.host)
        if router is None:
            return
        self._send(router, router.apply(ev.plan))
        for e in ev.plan.local_upserts:
            self.flow_logs.know(e)
        self._limit_zones({e.ident for e in ev.plan.local_upserts} - self.zones_limited)
        dp = self.datapaths[router.name]
        barrier = dp.ofproto_parser.OFPBarrierRequest(dp)
        dp.send_msg(barrier)
        self.barriers[(dp.id, barrier.xid)] = ev.change

    def _limit_zones(self, zones):
        """The host's own setting, like its flows: each new local ENI's conntrack zone is capped
        (all the hosts of this lab share one datapath, so once per zone)."""
        if not zones:
            return
        r = subprocess.run(['ovs-appctl', *security_groups.zone_limits(zones)], capture_output=True, text=True)
        if r.returncode:
            self.logger.error('conntrack zone limits not set: %s', r.stderr.strip())
        else:
            self.zones_limited |= zones

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def barrier_reply(self, ev):
        dp = ev.msg.datapath
        if (dp.id, ev.msg.xid) not in self.barriers:
            return
        change = self.barriers.pop((dp.id, ev.msg.xid))
        router = self._router(dp)
        router.ready = True
        self.send_event_to_observers(EventCacheAck(router.name, change))

    # ---- Hyperplane nodes that failed or came back ----------------------------------
    def set_failed_hyperplane(self, names):
        """From the management API's thread: checked here (LookupError), applied in the app's own."""
        self.hyperplane.with_failed(names)
        self.send_event(self.name, EventHyperplaneFailed(names))
        return sorted(names)

    @set_ev_cls(EventHyperplaneFailed)
    def hyperplane_failed(self, ev):
        self.hyperplane = self.hyperplane.with_failed(ev.names)
        for router in self.routers.values():
            self._send(router, router.set_failed_hyperplane(ev.names))

    # ---- packets the switch could not decide alone ---------------------------------
    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in(self, ev):
        msg = ev.msg
        router = self._router(msg.datapath)
        if router is None:
            return

        def lookup(vni, ip, peered=True, subscribe=True, target=None):
            return self.send_request(LookupRequest(router.name if subscribe else None, vni, ip, peered,
                                                   target)).entry
        outcome = router.packet_in(msg.table_id, msg.cookie, msg.match, msg.data, lookup)
        self._send(router, outcome.messages)
        for key in outcome.flow_log:
            self.flow_logs.count(key, 1, msg.total_len)
        for alert in outcome.alerts:
            self.send_event_to_observers(EventAlert(router.name, *alert))

    # ---- counters ---------------------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPFlowRemoved, MAIN_DISPATCHER)
    def flow_removed(self, ev):
        if P.cookie_kind(ev.msg.cookie) == P.KIND_FLOW_LOG:
            self.flow_logs.observe(flow_log.learned(ev.msg), ev.msg.packet_count, ev.msg.byte_count, final=True)

    def _poll_stats(self):
        tick = 0
        while True:
            for dp in list(self.datapaths.values()):
                for key, msg in counters.requests(tick):
                    msg.datapath = dp
                    xid = dp.set_xid(msg)
                    if dp.send_msg(msg):        # False: the connection is gone
                        self.stats_asked[(dp.id, xid)] = key
            self.flow_logs.flush()
            tick += 1
            hub.sleep(STATS_INTERVAL_S)

    @set_ev_cls(ofp_event.EventOFPAggregateStatsReply, MAIN_DISPATCHER)
    def aggregate_stats(self, ev):
        dp = ev.msg.datapath
        key, router = self.stats_asked.pop((dp.id, ev.msg.xid), None), self._router(dp)
        if key is not None and router is not None:
            router.polled.take(key, ev.msg.body.packet_count)

    def _whole(self, ev):
        """(key asked, every part's body) once a multipart reply's last part came; None before."""
        dp, asked = ev.msg.datapath, (ev.msg.datapath.id, ev.msg.xid)
        self.stats_parts.setdefault(asked, []).extend(ev.msg.body)
        if ev.msg.flags & dp.ofproto.OFPMPF_REPLY_MORE:
            return None
        return self.stats_asked.pop(asked, None), self.stats_parts.pop(asked)

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def flow_stats(self, ev):
        key, parts = self._whole(ev) or (None, ())
        if key == counters.FLOW_LOG and self._router(ev.msg.datapath):
            for s in counters.flow_log_counting(parts):
                self.flow_logs.observe(flow_log.learned(s), s.packet_count, s.byte_count)

    @set_ev_cls(ofp_event.EventOFPMeterStatsReply, MAIN_DISPATCHER)
    def meter_stats(self, ev):
        key, parts = self._whole(ev) or (None, ())
        router = self._router(ev.msg.datapath)
        if key == counters.THROTTLED and router:
            router.polled.take(key, counters.throttled(parts))
