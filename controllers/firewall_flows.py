"""The firewall steps of a hypervisor's pipeline as flows: security groups (conntrack, one zone
per ENI), network ACLs, route tables, and the flow-log counting table.

The rule logic is in controllers/firewall.py; this module only writes it into the switch.
"""
import ipaddress

from controllers import firewall
from controllers import pipeline as P
from controllers.compat import nicira_ext
from controllers.firewall import Match

IP = 0x0800
TCP, UDP = 6, 17
ZONE_BITS = nicira_ext.ofs_nbits(0, 15)
FLOW_LOG_IDLE_S = 300          # a learned counting flow leaves after this long without packets
PACKET_IN_BYTES = 128          # first packets of a flow go to the controller this long
LEARNED_PRIORITY = 100         # the learned counting flows (above the learning ones)
NX_IN_PORT = 0xfff8            # resubmit's 16-bit port field: keep the packet's in_port
FRAG_NX_MATCH = 3              # OVS's switch-config fragment mode: first fragments keep their ports
LATER_FRAGMENT = (nicira_ext.FLOW_NW_FRAG_ANY | nicira_ext.FLOW_NW_FRAG_LATER,) * 2


def ct_state(*bits):
    """ct_state=+trk+bits... as an OpenFlow (value, mask)."""
    value = P.CT_TRK | sum(bits)
    return value, value


class FirewallFlows:
    def __init__(self, fw, subnets, enforce_groups=True):
        self.fw = fw
        self.parser = fw.parser
        self.subnets = subnets               # subnet id -> dict(index, vni, cidr, acl, routes, flow_logs)
        self.enforce_groups = enforce_groups
        self.compiled = {}                   # ENI key -> what its groups allow (from the mapping service)
        self.sg = {}                         # ENI key -> {(table, match fields): (zone reg, next)}

    # ---- actions -----------------------------------------------------------------------------
    def ct(self, zone_reg, table=None, commit=False):
        return self.parser.NXActionCT(
            flags=nicira_ext.NX_CT_F_COMMIT if commit else 0, zone_src=zone_reg,
            zone_ofs_nbits=ZONE_BITS, alg=0, actions=[],
            recirc_table=nicira_ext.NX_CT_RECIRC_NONE if table is None else table)

    def log(self, action, eni_reg=None, eni=None):
        """Count this packet in the flow log of the ENI (given, or taken from a register)."""
        p = self.parser
        who = (p.NXActionRegMove(src_field=eni_reg, dst_field=P.REG_LOG_ENI, n_bits=32)
               if eni_reg else self.fw.set(**{P.REG_LOG_ENI: eni}))
        return [who, self.fw.set(**{P.REG_LOG_ACTION: action}),
                p.NXActionResubmitTable(in_port=NX_IN_PORT, table_id=P.FLOW_LOG)]

    def drop(self, table, priority, match, reason, log=()):
        self.fw.add(table, priority, match, list(log), cookie=P.cookie(P.KIND_DROP, P.REASON_CODE[reason]))

    # ---- base flows: the same on every host ------------------------------------------------------
    def install_base(self):
        fw, p = self.fw, self.parser
        # by default OVS zeroes the ports of every fragment, and no port rule could match one
        fw.dp.send_msg(p.OFPSetConfig(fw.dp, FRAG_NX_MATCH, fw.ofp.OFPCML_NO_BUFFER))
        ip = p.OFPMatch(eth_type=IP)
        for table, zone, rules, after in ((P.EGRESS_SG, P.REG_SRC_ENI, P.EGRESS_SG_RULES, P.EGRESS_NACL),
                                          (P.INGRESS_SG, P.REG_DST_ENI, P.INGRESS_SG_RULES, P.DELIVER)):
            if not self.enforce_groups:       # benchmarks: the same pipeline without conntrack
                fw.add(table, 10, ip, goto=after, cookie=P.cookie(P.KIND_FIREWALL))
                continue
            fw.add(table, 10, ip, [self.ct(zone, table=rules)], cookie=P.cookie(P.KIND_FIREWALL))
            self.drop(rules, 300, p.OFPMatch(eth_type=IP, ct_state=ct_state(P.CT_INV)), 'invalid-packet')
            for state in (P.CT_EST, P.CT_REL):
                fw.add(rules, 200, p.OFPMatch(eth_type=IP, ct_state=ct_state(state)), goto=after,
                       cookie=P.cookie(P.KIND_FIREWALL))
            self.drop(rules, 0, p.OFPMatch(), 'security-group')
        for table in (P.EGRESS_NACL, P.INGRESS_NACL):
            self.drop(table, 0, p.OFPMatch(), 'network-acl')
        self.drop(P.ROUTE_TABLE, 0, p.OFPMatch(), 'no-route')
        for subnet in self.subnets.values():
            self._subnet(subnet)
        self._flow_log_table()

    def _subnet(self, s):
        fw, p = self.fw, self.parser
        logs = s['flow_logs']
        net = _net(s['cidr'])
        for table, eni_reg, direction, peer_field, after in (
                (P.EGRESS_NACL, P.REG_SRC_ENI, 'outbound', 'ipv4_dst', P.ROUTE_TABLE),
                (P.INGRESS_NACL, P.REG_DST_ENI, 'inbound', 'ipv4_src', P.INGRESS_SG)):
            accept = self.log(P.LOG_ACCEPT, eni_reg) if logs and direction == 'outbound' else []
            reject = self.log(P.LOG_REJECT, eni_reg) if logs else []
            owner = P.cookie(P.KIND_FIREWALL)
            # AWS evaluates ACLs where traffic crosses the subnet's edge, not inside the subnet
            fw.add(table, 40000, p.OFPMatch(eth_type=IP, **{P.REG_SUBNET: s['index'], peer_field: net}),
                   accept, goto=after, cookie=owner)
            if s['acl'] is None:              # the default ACL allows everything
                fw.add(table, 1, p.OFPMatch(eth_type=IP, **{P.REG_SUBNET: s['index']}), accept,
                       goto=after, cookie=owner)
                continue
            for priority, m, allow in firewall.acl_entries(s['acl'][direction]):
                for match in self._matches(m, peer_field, **{P.REG_SUBNET: s['index']}):
                    if allow:
                        fw.add(table, priority, match, accept, goto=after, cookie=owner)
                    else:
                        self.drop(table, priority, match, 'network-acl', reject)
            self.drop(table, 1, p.OFPMatch(eth_type=IP, **{P.REG_SUBNET: s['index']}), 'network-acl', reject)
        for priority, cidr, reason in firewall.route_entries(s['routes']):
            match = p.OFPMatch(eth_type=IP, ipv4_dst=_net(cidr), **{P.REG_SUBNET: s['index']})
            if reason is None:
                fw.add(P.ROUTE_TABLE, priority, match, goto=P.MAPPING, cookie=P.cookie(P.KIND_FIREWALL))
            else:
                self.drop(P.ROUTE_TABLE, priority, match, reason)

    def _flow_log_table(self):
        """The first packet of each (ENI, action, 5-tuple) learns a counting flow here and is
        counted by the controller (a learned flow counts only the packets after it)."""
        fw, p = self.fw, self.parser

        def field(name, bits):
            return p.NXFlowSpecMatch(src=(name, 0), dst=(name, 0), n_bits=bits)
        common = [field(P.REG_LOG_ENI, 32), field(P.REG_LOG_ACTION, 32),
                  p.NXFlowSpecMatch(src=IP, dst=('eth_type_nxm', 0), n_bits=16),
                  field('ipv4_src_nxm', 32), field('ipv4_dst_nxm', 32)]
        for priority, proto, ports in ((3, TCP, ('tcp_src_nxm', 'tcp_dst_nxm')),
                                       (2, UDP, ('udp_src_nxm', 'udp_dst_nxm')), (1, None, ())):
            # OVS checks a learned match's prerequisites, so ports need the protocol as a constant
            protocol = (p.NXFlowSpecMatch(src=proto, dst=('ip_proto_nxm', 0), n_bits=8) if proto
                        else field('ip_proto_nxm', 8))
            learn = p.NXActionLearn(
                table_id=P.FLOW_LOG, priority=LEARNED_PRIORITY, idle_timeout=FLOW_LOG_IDLE_S,
                hard_timeout=0, cookie=P.cookie(P.KIND_FLOW_LOG), flags=fw.ofp.OFPFF_SEND_FLOW_REM,
                fin_idle_timeout=0, fin_hard_timeout=0,
                specs=common + [protocol] + [field(name, 16) for name in ports])
            match = p.OFPMatch(eth_type=IP, ip_proto=proto) if proto else p.OFPMatch(eth_type=IP)
            fw.add(P.FLOW_LOG, priority, match, [learn, fw.output(fw.ofp.OFPP_CONTROLLER, PACKET_IN_BYTES)],
                   cookie=P.cookie(P.KIND_FLOW_LOG))

    # ---- one local ENI ------------------------------------------------------------------------
    def plug(self, e, subnet):
        """Per-ENI flows: its default deny in both directions (logged as REJECT)."""
        if not self.enforce_groups:
            return
        logs = subnet['flow_logs']
        for table, reg in ((P.EGRESS_SG_RULES, P.REG_SRC_ENI), (P.INGRESS_SG_RULES, P.REG_DST_ENI)):
            self.drop(table, 10, self.parser.OFPMatch(eth_type=IP, **{reg: e.ident}), 'security-group',
                      self.log(P.LOG_REJECT, eni=e.ident) if logs else ())
        self.set_groups(e, self.compiled.get(e.key, {}), force=True)

    def unplug(self, e):
        for table, reg in ((P.EGRESS_SG_RULES, P.REG_SRC_ENI), (P.INGRESS_SG_RULES, P.REG_DST_ENI)):
            self.fw.delete(table=table, match=self.parser.OFPMatch(**{reg: e.ident}))

    def set_groups(self, e, compiled, force=False):
        """Make the switch hold exactly the flows of `compiled` (firewall.security_group_matches)
        for e: new flows first, then the ones no longer wanted go, so that allowed traffic never
        sees a gap."""
        if not self.enforce_groups:
            return
        self.compiled[e.key] = compiled
        held = {} if force else self.sg.get(e.key, {})
        want = {}
        for direction, table, reg, peer_field, after in (
                ('outbound', P.EGRESS_SG_RULES, P.REG_SRC_ENI, 'ipv4_dst', P.EGRESS_NACL),
                ('inbound', P.INGRESS_SG_RULES, P.REG_DST_ENI, 'ipv4_src', P.DELIVER)):
            for m in compiled.get(direction, ()):
                for fields in self._fields(Match(*m), peer_field, ct_state=ct_state(P.CT_NEW),
                                           **{reg: e.ident}):
                    want[(table, tuple(sorted(fields.items())))] = (reg, after)
        for key in want.keys() - held.keys():
            (table, fields), (reg, after) = key, want[key]
            self.fw.add(table, 100, self.match(dict(fields)), [self.ct(reg, commit=True)],
                        goto=after, cookie=P.cookie(P.KIND_SG, e.ident))
        for table, fields in held.keys() - want.keys():
            self.fw.delete_strict(table, 100, self.match(dict(fields)))
        self.sg[e.key] = want

    def _matches(self, m, peer_field, **extra):
        return [self.match(f) for f in self._fields(m, peer_field, **extra)]

    def match(self, fields):
        """OFPMatch sorts fields by OXM class, which puts Nicira fields first; OVS checks
        prerequisites in order, and ip_frag needs eth_type before it."""
        m = self.parser.OFPMatch(**fields)
        if 'ip_frag' not in fields:
            return m
        return self.parser.OFPMatch(_ordered_fields=sorted(m._fields2, key=lambda f: f[0] == 'ip_frag'))

    def _fields(self, m, peer_field, **extra):
        """The OpenFlow match fields of a Match.  A rule with ports also admits the later fragments
        of its protocol and peer, which carry no ports: the reassembler releases them only
        together with their first fragment, which the ports decide."""
        fields = dict(extra, eth_type=IP)
        if m.protocol is not None:
            fields['ip_proto'] = m.protocol
        if m.cidr != '0.0.0.0/0':
            fields[peer_field] = _net(m.cidr)
        if m.port is None:
            return [fields]
        name = 'tcp_dst' if m.protocol == TCP else 'udp_dst'
        return [dict(fields, **{name: m.port if m.mask == 0xffff else (m.port, m.mask)}),
                dict(fields, ip_frag=LATER_FRAGMENT)]


def _net(cidr):
    """'10.0.0.0/16' -> ('10.0.0.0', '255.255.0.0') as OFPMatch takes it."""
    n = ipaddress.IPv4Network(cidr)
    return str(n.network_address), str(n.netmask)
