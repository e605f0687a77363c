"""FLOW_LOG, not a step of the journey: VPC flow logs, per-ENI records of what was accepted and
rejected, in AWS's default format.

    version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status

Decisions resubmit here (`log`).  Counts come from two places: the learned counting flows of this
table, polled as cumulative flow statistics, and the packet-ins of the first packets of a flow,
which a learned flow cannot count.  `bytes` are IP bytes, as AWS counts them (an 84-byte ping is
84).  Records are written once per aggregation interval of the ENI's VPC; `start` is the beginning
of that window, `end` its close (AWS uses first and last packet).
"""
import threading
from collections import namedtuple

from controllers import pipeline as P
from controllers.compat import ipv4, tcp, udp
from controllers.router import ofp
from controllers.router.rules import TCP, UDP

VERSION = 2
HEADER = ('version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes '
          'start end action log-status')
ACTIONS = {P.LOG_ACCEPT: 'ACCEPT', P.LOG_REJECT: 'REJECT'}
ETHERNET_HEADER = 14
IDLE_S = 300                   # a learned counting flow leaves after this long without packets
PACKET_IN_BYTES = 128          # first packets of a flow go to the controller this long
LEARNED_PRIORITY = 100         # the learned counting flows (above the learning ones)
MAX_PENDING = 50000            # records waiting for their interval; beyond, new ones are skipped (counted)

# ident: the ENI's pipeline number; action: P.LOG_ACCEPT/P.LOG_REJECT
FlowKey = namedtuple('FlowKey', 'ident action src dst sport dport protocol')


# ---- flows -------------------------------------------------------------------------------------
def log(action, eni_reg=None, eni=None):
    """Actions that count this packet in the flow log of the ENI (given, or taken from a register)."""
    who = ofp.move(eni_reg, P.REG_LOG_ENI, 32) if eni_reg else ofp.set_field(**{P.REG_LOG_ENI: eni})
    return [who, ofp.set_field(**{P.REG_LOG_ACTION: action}), ofp.resubmit_table(P.FLOW_LOG)]


def base():
    """Nothing is logged for an ENI that `plug` did not give its learning flows."""
    return [ofp.flow(P.FLOW_LOG, 0, ofp.match(), cookie=P.cookie(P.KIND_BASE))]


def plug(e):
    """The first packet of each (ENI, action, 5-tuple) of e learns a counting flow here and is
    counted by the controller (a learned flow counts only the packets after it).  Those packet-ins
    are metered per ENI, and only they: the packet itself goes on (a new 5-tuple beyond the rate
    is still counted by its learned flow, but for its first packet)."""
    p = ofp.parser

    def field(name, bits):
        return p.NXFlowSpecMatch(src=(name, 0), dst=(name, 0), n_bits=bits)
    common = [field(P.REG_LOG_ENI, 32), field(P.REG_LOG_ACTION, 32),
              p.NXFlowSpecMatch(src=ofp.IP, dst=('eth_type_nxm', 0), n_bits=16),
              field('ipv4_src_nxm', 32), field('ipv4_dst_nxm', 32)]
    out = []
    for priority, proto, ports in ((3, TCP, ('tcp_src_nxm', 'tcp_dst_nxm')),
                                   (2, UDP, ('udp_src_nxm', 'udp_dst_nxm')), (1, None, ())):
        # OVS checks a learned match's prerequisites, so ports need the protocol as a constant
        protocol = (p.NXFlowSpecMatch(src=proto, dst=('ip_proto_nxm', 0), n_bits=8) if proto
                    else field('ip_proto_nxm', 8))
        learn = p.NXActionLearn(
            table_id=P.FLOW_LOG, priority=LEARNED_PRIORITY, idle_timeout=IDLE_S, hard_timeout=0,
            cookie=P.cookie(P.KIND_FLOW_LOG), flags=ofp.ofp.OFPFF_SEND_FLOW_REM, fin_idle_timeout=0,
            fin_hard_timeout=0, specs=common + [protocol] + [field(name, 16) for name in ports])
        match = ofp.match(eth_type=ofp.IP, ip_proto=proto, **{P.REG_LOG_ENI: e.ident}) if proto else \
            ofp.match(eth_type=ofp.IP, **{P.REG_LOG_ENI: e.ident})
        out.append(ofp.flow(P.FLOW_LOG, priority, match,
                            [learn, ofp.to_controller(PACKET_IN_BYTES, meter=P.eni_packet_in_meter(e.ident))],
                            cookie=P.cookie(P.KIND_FLOW_LOG, e.ident)))
    return out


def unplug(e):
    return [ofp.delete_owner(P.KIND_FLOW_LOG, e.ident)]


# ---- what the controller counts ------------------------------------------------------------------
def key_of(fields, ident, action):
    """FlowKey from OpenFlow match fields (of a packet-in or a learned flow)."""
    proto = fields.get('ip_proto')
    sport = fields.get('tcp_src', fields.get('udp_src', 0))
    dport = fields.get('tcp_dst', fields.get('udp_dst', 0))
    return FlowKey(ident, action, fields['ipv4_src'], fields['ipv4_dst'], sport, dport, proto)


def first_packet(match, pkt):
    """The FlowKey of a packet that learned a counting flow (it is not counted by that flow)."""
    ip = pkt.get_protocol(ipv4.ipv4)
    ports = pkt.get_protocol(tcp.tcp) or pkt.get_protocol(udp.udp)
    fields = dict(ipv4_src=ip.src, ipv4_dst=ip.dst, ip_proto=ip.proto)
    if ports:
        fields.update(tcp_src=ports.src_port, tcp_dst=ports.dst_port)
    return key_of(fields, match[P.REG_LOG_ENI], match[P.REG_LOG_ACTION])


def learned(stat):
    """The FlowKey of a learned counting flow's statistics (or its removal)."""
    fields = dict(stat.match.items())
    return key_of(fields, fields[P.REG_LOG_ENI], fields[P.REG_LOG_ACTION])


class FlowLogBook:
    def __init__(self, path, vpcs, clock):
        self.path = path
        self.clock = clock
        self.vpcs = {v['vni']: v for v in vpcs if v.get('flow_log_interval_s')}
        self.enis = {}                 # ident -> (eni id, vni)
        self.pending = {}              # FlowKey -> [packets, bytes] not written yet
        self.seen = {}                 # learned flow (FlowKey) -> (packets, bytes) at the last poll
        self.learning = set()          # FlowKeys whose learning packet was counted
        self.window_start = {vni: clock() for vni in self.vpcs}
        self.skipped = 0               # packets of records that found no room (AWS: log-status SKIPDATA)
        self.lock = threading.Lock()
        with open(path, 'w') as f:
            f.write(HEADER + '\n')

    def know(self, entry):
        self.enis[entry.ident] = (entry.eni, entry.vni)

    def count(self, key, packets, frame_bytes):
        """The packet that learned the counting flow (the controller saw it itself).

        Packets right behind it can reach the controller too, before the datapath has
        the learned flow, and the learned flow counts them all the same (seen here with
        back-to-back datagrams): so only the first packet-in of a learned flow's life
        counts."""
        with self.lock:
            if key in self.learning:
                return
            self.learning.add(key)
            self._add(key, packets, frame_bytes - ETHERNET_HEADER * packets)

    def observe(self, key, packets, frame_bytes, final=False):
        """Cumulative counters of a learned flow; `final` when the flow was removed."""
        with self.lock:
            last = self.seen.pop(key, (0, 0))
            if packets < last[0]:          # a new flow for the same key: counting starts again
                last = (0, 0)
            self._add(key, packets - last[0], frame_bytes - last[1] - ETHERNET_HEADER * (packets - last[0]))
            if final:
                self.learning.discard(key)     # a later packet learns a new flow
            else:
                self.seen[key] = (packets, frame_bytes)

    def _add(self, key, packets, ip_bytes):
        if packets > 0 and key not in self.pending and len(self.pending) >= MAX_PENDING:
            self.skipped += packets
            return
        if packets > 0:
            total = self.pending.setdefault(key, [0, 0])
            total[0] += packets
            total[1] += ip_bytes

    def flush(self):
        """Write the records of every VPC whose interval is over; returns them."""
        now = self.clock()
        with self.lock:
            due = {vni for vni, v in self.vpcs.items()
                   if now - self.window_start[vni] >= v['flow_log_interval_s']}
            lines = []
            for key in sorted(k for k in self.pending if self.enis.get(k.ident, (0, None))[1] in due):
                packets, ip_bytes = self.pending.pop(key)
                eni, vni = self.enis[key.ident]
                lines.append(' '.join(str(x) for x in (
                    VERSION, self.vpcs[vni]['account_id'], eni, key.src, key.dst, key.sport, key.dport,
                    key.protocol, packets, ip_bytes, int(self.window_start[vni]), int(now),
                    ACTIONS[key.action], 'OK')))
            for vni in due:
                self.window_start[vni] = now
        if lines:
            with open(self.path, 'a') as f:
                f.write(''.join(line + '\n' for line in lines))
        return lines


def parse(line):
    """A record line -> dict (None for the header)."""
    fields = line.split()
    names = HEADER.split()
    if fields == names or len(fields) != len(names):
        return None
    rec = dict(zip(names, fields))
    for name in ('srcport', 'dstport', 'protocol', 'packets', 'bytes', 'start', 'end'):
        rec[name] = int(rec[name])
    return rec
