"""A fake OpenFlow switch for unit tests: it holds the flow-mods the virtual router produces and
evaluates them for a packet, as OVS would for what this pipeline uses: tables, priorities, matches
with masks, metadata and registers, apply-actions, write-metadata, goto, resubmit, set_field,
reg_move, output, conntrack (`ct`, whose ct_state the test gives) and conjunctive matches
(`conjunction` actions, `conj_id`, as ovs-fields(7) describes them).  Meters are held, as OVS holds
them (one id once, a flow's meter instruction needs its meter, a deleted meter takes its flows
along), but do not limit; learn is ignored.

The verdict names the stage and, for a drop, the reason kept in the drop flow's cookie.
"""
import ipaddress

from os_ken.lib.packet import arp, ethernet, icmp, ipv4, packet, tcp, udp
from os_ken.ofproto import nicira_ext
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controllers import pipeline as P

IP_FIELDS = {'ipv4_src', 'ipv4_dst', 'arp_spa', 'arp_tpa', 'tun_ipv4_src', 'tun_ipv4_dst'}
MAC_FIELDS = {'eth_src', 'eth_dst', 'arp_sha', 'arp_tha'}
CT = {'new': P.CT_NEW, 'est': P.CT_EST, 'rel': P.CT_REL, 'inv': P.CT_INV}
ZEROED = ('metadata', 'vlan_vid', 'ct_state', 'tunnel_id', 'tun_ipv4_src', 'tun_ipv4_dst') + \
    tuple(f'reg{n}' for n in range(8))


def value(name, v):
    if isinstance(v, str):
        return int(ipaddress.IPv4Address(v)) if name in IP_FIELDS else int(v.replace(':', ''), 16)
    return int(v)


def shown(name, v):
    if name in IP_FIELDS:
        return str(ipaddress.IPv4Address(v))
    if name in MAC_FIELDS:
        return ':'.join(f'{v:012x}'[i:i + 2] for i in range(0, 12, 2))
    return v


def normal(match):
    """{field: (value, mask or None)} of an OFPMatch."""
    out = {}
    for name, v in match._fields2:
        v, mask = v if isinstance(v, tuple) else (v, None)
        out[name] = (value(name, v), None if mask is None else value(name, mask))
    return out


class Flow:
    def __init__(self, mod):
        self.table, self.priority, self.cookie = mod.table_id, mod.priority, mod.cookie
        self.match, self.instructions = normal(mod.match), mod.instructions
        self.meter = next((i.meter_id for i in self.instructions if isinstance(i, parser.OFPInstructionMeter)), None)
        actions = [a for i in self.instructions if isinstance(i, parser.OFPInstructionActions) for a in i.actions]
        # (id, clause, n_clauses) of its conjunction actions (clause counts from 0 on the wire)
        self.conjunctions = [(a.id, a.clause, a.n_clauses) for a in actions
                             if isinstance(a, parser.NXActionConjunction)]
        if self.conjunctions:     # OVS: nothing else (but notes), and a conjunction has 2 to 64 clauses
            assert len(self.conjunctions) == len(actions) and len(self.instructions) == 1, \
                'conjunction with other actions'
            assert all(2 <= n <= 64 and 0 <= k < n for _, k, n in self.conjunctions), self.conjunctions
            assert 'conj_id' not in self.match

    def matches(self, pkt):
        return all(name in pkt and (pkt[name] == v if m is None else pkt[name] & m == v & m)
                   for name, (v, m) in self.match.items())

    def goto(self):
        return next((i.table_id for i in self.instructions if isinstance(i, parser.OFPInstructionGotoTable)), None)


class Journey:
    """What became of one packet: outputs [(port, fields)], packet-ins [(table, cookie, fields)],
    the flows it met [(stage name, Flow)], and the flow that ended it."""

    def __init__(self):
        self.outputs, self.packet_ins, self.trail, self.commits = [], [], [], []
        self.end = None            # (table, Flow or None for a table miss)

    def field(self, name, n=0):
        return shown(name, self.outputs[n][1][name])

    @property
    def stages(self):
        return [name for name, _ in self.trail]

    @property
    def verdict(self):
        if self.outputs:
            return '; '.join(self._output(port, f) for port, f in self.outputs)
        table, flow = self.end
        name = P.stage(table).name
        if flow is None:
            return f'dropped: table-miss at {name}'
        kind, ident = P.cookie_kind(flow.cookie), P.cookie_ident(flow.cookie)
        if kind == P.KIND_MISS:
            return f'to the controller at {name}'
        assert kind == P.KIND_DROP, f'the packet ended at {name} in a flow that is no drop: {flow.cookie:#x}'
        reason = P.DROP_REASONS[ident]
        assert reason in P.stage(table).reasons, f'{name} does not declare drop reason {reason}'
        return f'dropped: {reason} at {name}'

    @staticmethod
    def _output(port, f):
        if port == P.TUNNEL_PORT:
            return f'tunnel to {shown("tun_ipv4_dst", f["tun_ipv4_dst"])}, VNI {f["tunnel_id"]}'
        return f'out port {port}'


class FakeSwitch:
    def __init__(self):
        self.flows = []
        self.meters = {}          # meter id -> its OFPMeterMod

    # ---- messages in ---------------------------------------------------------------------------
    def apply(self, messages):
        for m in messages:
            if isinstance(m, parser.OFPFlowMod):
                {ofp.OFPFC_ADD: self._add, ofp.OFPFC_DELETE: self._delete,
                 ofp.OFPFC_DELETE_STRICT: self._delete_strict}[m.command](m)
            elif isinstance(m, parser.OFPMeterMod):
                self._meter(m)
        return self

    def _meter(self, mod):
        if mod.command == ofp.OFPMC_ADD:
            assert mod.meter_id not in self.meters, f'meter {mod.meter_id} exists (OFPMMFC_METER_EXISTS)'
            self.meters[mod.meter_id] = mod
            return
        gone = set(self.meters) if mod.meter_id == ofp.OFPM_ALL else {mod.meter_id}
        self.meters = {k: v for k, v in self.meters.items() if k not in gone}
        self.flows = [f for f in self.flows if f.meter not in gone]

    def _add(self, mod):
        new = Flow(mod)
        assert new.meter is None or new.meter in self.meters, f'no meter {new.meter} (OFPMMFC_UNKNOWN_METER)'
        self.flows = [f for f in self.flows if (f.table, f.priority, f.match) != (new.table, new.priority, new.match)]
        self.flows.append(new)

    def _delete(self, mod):
        want = normal(mod.match)
        self.flows = [f for f in self.flows if not (
            mod.table_id in (ofp.OFPTT_ALL, f.table) and f.cookie & mod.cookie_mask == mod.cookie & mod.cookie_mask
            and all(f.match.get(k) == v for k, v in want.items()))]

    def _delete_strict(self, mod):
        key = (mod.table_id, mod.priority, normal(mod.match))
        self.flows = [f for f in self.flows if (f.table, f.priority, f.match) != key]

    def table(self, table):
        return sorted((f for f in self.flows if f.table == table), key=lambda f: -f.priority)

    def lookup(self, table, pkt, conjunctive=True):
        """The flow that decides `pkt` in `table`, as OVS's classifier finds it: the highest-priority
        matching flow, unless a conjunctive match above it is complete (every clause of its id has a
        matching flow at that priority); then the flow that matches with conj_id set to that id
        decides (conjunctive flows left out of that search), and if none does the search goes on."""
        hard, soft = None, {}                    # priority -> {id: (n_clauses, clauses matched)}
        for f in self.table(table):
            if hard is not None and f.priority <= hard.priority:
                break
            if not f.matches(pkt):
                continue
            if not f.conjunctions:
                hard = f
            elif conjunctive:
                for ident, clause, n in f.conjunctions:
                    soft.setdefault(f.priority, {}).setdefault(ident, (n, set()))[1].add(clause)
        for priority in sorted(soft, reverse=True):
            for ident in sorted(i for i, (n, got) in soft[priority].items() if len(got) == n):
                found = self.lookup(table, dict(pkt, conj_id=ident), conjunctive=False)
                if found is not None:
                    return found
        return hard

    def check_conjunctions(self):
        """What OVS asks of conjunctive flows and cannot check flow by flow: one priority and one
        clause count per id and table, each clause with flows, and a conj_id flow for the id."""
        seen = {}                                # (table, id) -> {(priority, n_clauses)}, clauses
        for f in self.flows:
            for ident, clause, n in f.conjunctions:
                kinds, clauses = seen.setdefault((f.table, ident), (set(), set()))
                kinds.add((f.priority, n))
                clauses.add(clause)
        for (table, ident), (kinds, clauses) in seen.items():
            assert len(kinds) == 1, f'conjunction {ident} in table {table}: priorities/clause counts {kinds}'
            ((_, n),) = kinds
            assert clauses == set(range(n)), f'conjunction {ident} in table {table} has clauses {clauses} of {n}'
            assert any(f.match.get('conj_id') == (ident, None) for f in self.table(table)), \
                f'conjunction {ident} in table {table} has no conj_id flow'
        return len(seen)

    # ---- a packet ------------------------------------------------------------------------------------
    def send(self, ct='new', table=P.CLASSIFY, **fields):
        """The journey of a packet given as match fields (in_port, eth_src, ipv4_dst, ...).  ct: the
        state conntrack answers ('new', 'est', 'rel', 'inv', or {zone: state})."""
        pkt = dict.fromkeys(ZEROED, 0)
        pkt.update({k: value(k, v) for k, v in fields.items()})
        if pkt.get('eth_type') == 0x0800:
            pkt.setdefault('ip_frag', 0)
        journey = Journey()
        self._run(table, pkt, journey, ct, top=True)
        return journey

    def packet_out(self, msg, ct='new'):
        """A packet-out whose actions end in output(TABLE): the packet goes through the pipeline."""
        fields = dict(frame_fields(msg.data), in_port=msg.in_port)
        for a in msg.actions:
            if isinstance(a, parser.OFPActionSetField):
                fields[a.key] = a.value
        assert msg.actions[-1].port == ofp.OFPP_TABLE
        return self.send(ct, **fields)

    def _run(self, table, pkt, journey, ct, top):
        flow = self.lookup(table, pkt)
        if flow is None:
            journey.end = (table, None)
            return
        journey.trail.append((P.stage(table).name, flow))
        recirc = None
        for inst in flow.instructions:
            if isinstance(inst, parser.OFPInstructionActions):
                for a in inst.actions:
                    recirc = self._act(a, table, flow, pkt, journey, ct) or recirc
            elif isinstance(inst, parser.OFPInstructionWriteMetadata):
                pkt['metadata'] = (pkt['metadata'] & ~inst.metadata_mask) | (inst.metadata & inst.metadata_mask)
        after = recirc if recirc is not None else flow.goto()
        if after is not None:
            self._run(after, pkt, journey, ct, top)
        elif top:
            journey.end = (table, flow)

    def _act(self, a, table, flow, pkt, journey, ct):
        if isinstance(a, parser.OFPActionSetField):
            pkt[a.key] = value(a.key, a.value)
        elif isinstance(a, parser.NXActionRegMove):
            bits = (1 << a.n_bits) - 1
            moved = (pkt[a.src_field] >> a.src_ofs) & bits
            pkt[a.dst_field] = (pkt.get(a.dst_field, 0) & ~(bits << a.dst_ofs)) | (moved << a.dst_ofs)
        elif isinstance(a, parser.NXActionController2):        # controller(max_len=...,meter_id=...)
            journey.packet_ins.append((table, flow.cookie, dict(pkt)))
        elif isinstance(a, parser.OFPActionOutput):
            if a.port == ofp.OFPP_CONTROLLER:
                journey.packet_ins.append((table, flow.cookie, dict(pkt)))
            else:
                journey.outputs.append((pkt['in_port'] if a.port == ofp.OFPP_IN_PORT else a.port, dict(pkt)))
        elif isinstance(a, parser.NXActionResubmitTable):
            self._run(a.table_id, pkt, journey, ct, top=False)
        elif isinstance(a, parser.NXActionCT):
            zone = pkt[a.zone_src]
            if a.flags & nicira_ext.NX_CT_F_COMMIT:
                journey.commits.append(zone)
            if a.recirc_table != nicira_ext.NX_CT_RECIRC_NONE:
                state = ct.get(zone, 'new') if isinstance(ct, dict) else ct
                pkt['ct_state'] = P.CT_TRK | CT.get(state, state)
                return a.recirc_table
        return None


# ---- frames, for what goes to and from the controller ---------------------------------------------
def frame(eth_src, eth_dst='ff:ff:ff:ff:ff:ff', **f):
    """The bytes of an ARP (arp_op, arp_spa, arp_tpa) or IPv4 (ipv4_src, ipv4_dst, ip_proto,
    tcp_dst/udp_dst) packet."""
    pkt = packet.Packet()
    if 'arp_op' in f:
        pkt.add_protocol(ethernet.ethernet(dst=eth_dst, src=eth_src, ethertype=0x0806))
        pkt.add_protocol(arp.arp(opcode=f['arp_op'], src_mac=f.get('arp_sha', eth_src), src_ip=f['arp_spa'],
                                 dst_mac=f.get('arp_tha', '00:00:00:00:00:00'), dst_ip=f['arp_tpa']))
    else:
        proto = f.get('ip_proto', 1)
        pkt.add_protocol(ethernet.ethernet(dst=eth_dst, src=eth_src, ethertype=0x0800))
        pkt.add_protocol(ipv4.ipv4(src=f['ipv4_src'], dst=f['ipv4_dst'], proto=proto))
        pkt.add_protocol({6: lambda: tcp.tcp(src_port=f.get('tcp_src', 40000), dst_port=f.get('tcp_dst', 80)),
                          17: lambda: udp.udp(src_port=f.get('udp_src', 40000), dst_port=f.get('udp_dst', 53)),
                          1: lambda: icmp.icmp(data=icmp.echo())}[proto]())
    pkt.serialize()
    return bytes(pkt.data)


def frame_fields(data):
    """The match fields of a frame (the inverse of `frame`)."""
    pkt = packet.Packet(data)
    eth = pkt.get_protocol(ethernet.ethernet)
    out = dict(eth_src=eth.src, eth_dst=eth.dst, eth_type=eth.ethertype)
    a, ip = pkt.get_protocol(arp.arp), pkt.get_protocol(ipv4.ipv4)
    if a:
        out.update(arp_op=a.opcode, arp_sha=a.src_mac, arp_spa=a.src_ip, arp_tha=a.dst_mac, arp_tpa=a.dst_ip)
    if ip:
        out.update(ipv4_src=ip.src, ipv4_dst=ip.dst, ip_proto=ip.proto)
        ports = pkt.get_protocol(tcp.tcp) or pkt.get_protocol(udp.udp)
        if ports:
            kind = 'tcp' if ip.proto == 6 else 'udp'
            out.update({f'{kind}_src': ports.src_port, f'{kind}_dst': ports.dst_port})
    return out


def packet_of(journey_fields):
    """The frame of a packet as the switch holds it (for a packet-in)."""
    f = {k: shown(k, v) for k, v in journey_fields.items()}
    keys = ('arp_op', 'arp_sha', 'arp_spa', 'arp_tpa', 'ipv4_src', 'ipv4_dst', 'ip_proto', 'tcp_src', 'tcp_dst',
            'udp_src', 'udp_dst', 'eth_dst')
    return frame(f['eth_src'], **{k: f[k] for k in keys if k in f})
