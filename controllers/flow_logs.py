"""VPC flow logs: per-ENI records of what was accepted and rejected, in AWS's default format.

    version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status

Counts come from two places (controllers/firewall_flows.py): the learned counting flows of the
FLOW_LOG table, polled as cumulative flow statistics, and the packet-ins of the first packets
of a flow, which a learned flow cannot count.  `bytes` are IP bytes, as AWS counts them (an
84-byte ping is 84).  Records are written once per aggregation interval of the ENI's VPC;
`start` is the beginning of that window, `end` its close (AWS uses first and last packet).
"""
import threading
from collections import namedtuple

from controllers import pipeline as P

VERSION = 2
HEADER = ('version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes '
          'start end action log-status')
ACTIONS = {P.LOG_ACCEPT: 'ACCEPT', P.LOG_REJECT: 'REJECT'}
ETHERNET_HEADER = 14

# ident: the ENI's pipeline number; action: P.LOG_ACCEPT/P.LOG_REJECT
FlowKey = namedtuple('FlowKey', 'ident action src dst sport dport protocol')


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


def key_of(fields, ident, action):
    """FlowKey from OpenFlow match fields (of a packet-in or a learned flow)."""
    proto = fields.get('ip_proto')
    sport = fields.get('tcp_src', fields.get('udp_src', 0))
    dport = fields.get('tcp_dst', fields.get('udp_dst', 0))
    return FlowKey(ident, action, fields['ipv4_src'], fields['ipv4_dst'], sport, dport, proto)
