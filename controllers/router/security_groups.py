"""EGRESS_SG/EGRESS_SG_RULES and INGRESS_SG/INGRESS_SG_RULES: security groups, stateful.

conntrack runs in the ENI's own zone (its ident): established and related packets pass, invalid
ones drop, and a new flow must match a rule of one of the ENI's groups (AWS: the union of their
rules; `sg:<group>` means the group's members).  It is committed after the last drop decision of
its side: arriving, by the inbound rule that allows it; leaving, at EGRESS_COMMIT, which MAPPING
resubmits to once the network ACL, the route table and the mapping let it go (`commit_actions`).
"""
from controllers import pipeline as P
from controllers.router import flow_log, ofp, rules
from controllers.router.rules import Match

# (direction, table with the ENI's rules, the ENI's register, the rules' peer field, next table)
DIRECTIONS = (('outbound', P.EGRESS_SG_RULES, P.REG_SRC_ENI, 'ipv4_dst', P.EGRESS_NACL),
              ('inbound', P.INGRESS_SG_RULES, P.REG_DST_ENI, 'ipv4_src', P.DELIVER))


def ct_state(*bits):
    """ct_state=+trk+bits... as an OpenFlow (value, mask)."""
    value = P.CT_TRK | sum(bits)
    return value, value


# ---- the rules: pure logic ----------------------------------------------------------------------
def members(entries):
    """(VNI, group) -> the /32s of the ENIs in it, from the mapping table's entries."""
    out = {}
    for e in entries:
        for group in e.security_groups:
            out.setdefault((e.vni, group), set()).add(e.ip + '/32')
    return out


def peer_cidrs(peer, vni, membership):
    if peer.startswith('sg:'):
        return sorted(membership.get((vni, peer[3:]), ()))
    return [peer]


def security_group_matches(groups, eni_groups, vni, membership):
    """What one ENI allows: {'inbound': [Match], 'outbound': [Match]}, the union of the rules of
    all its groups (AWS: a packet passes if any rule of any group allows it)."""
    out = {}
    for direction in ('inbound', 'outbound'):
        found = set()
        for name in eni_groups:
            for rule in groups[name][direction]:
                found.update(rules.matches(rule, peer_cidrs(rule['peer'], vni, membership)))
        out[direction] = sorted(found, key=_order)
    return out


def _order(m):
    return tuple(-1 if v is None else v for v in (m.protocol, m.port, m.mask)) + (m.cidr,)


class SecurityGroupBook:
    """The groups of every VPC, and what each host was last told about its ENIs, so that a rule
    change or a membership change reaches exactly the hosts whose ENIs it changes (the mapping
    service keeps it)."""

    def __init__(self, groups):
        self.groups = {int(vni): dict(g) for vni, g in groups.items()}   # vni -> name -> rules
        self._told = {}                    # host -> {ENI key: compiled matches}

    def set_rules(self, vni, name, inbound, outbound):
        if name not in self.groups.get(vni, {}):
            raise KeyError(f'VPC {vni} has no security group {name!r}')
        self.groups[vni][name] = dict(inbound=list(inbound), outbound=list(outbound))

    def changes_for(self, host, entries):
        """{ENI key: matches} for the ENIs now on `host` whose matches changed since it was told."""
        membership = members(entries)
        told = self._told.setdefault(host, {})
        now = {e.key: security_group_matches(self.groups[e.vni], e.security_groups, e.vni,
                                              membership)
               for e in entries if e.host == host}
        changed = {k: m for k, m in now.items() if told.get(k) != m}
        self._told[host] = now
        return changed


# ---- the flows --------------------------------------------------------------------------------
def base(enforce=True):
    ip, owner = ofp.match(eth_type=ofp.IP), P.cookie(P.KIND_FIREWALL)
    out = []
    for table, zone, rules_table, after in ((P.EGRESS_SG, P.REG_SRC_ENI, P.EGRESS_SG_RULES, P.EGRESS_NACL),
                                            (P.INGRESS_SG, P.REG_DST_ENI, P.INGRESS_SG_RULES, P.DELIVER)):
        if not enforce:       # benchmarks: the same pipeline without conntrack
            out.append(ofp.flow(table, 10, ip, goto=after, cookie=owner))
            continue
        out += [ofp.flow(table, 10, ip, [ofp.ct(zone, table=rules_table)], cookie=owner),
                ofp.drop(rules_table, 300, ofp.match(eth_type=ofp.IP, ct_state=ct_state(P.CT_INV)),
                         'invalid-packet')]
        out += [ofp.flow(rules_table, 200, ofp.match(eth_type=ofp.IP, ct_state=ct_state(state)), goto=after,
                         cookie=owner) for state in (P.CT_EST, P.CT_REL)]
        out.append(ofp.drop(rules_table, 0, ofp.match(), 'security-group'))
    return out + egress_commit(enforce)


def egress_commit(enforce=True):
    """EGRESS_COMMIT: a new flow that nothing on the sending side dropped is tracked in the sender's
    zone; everything else (tracked already, or conntrack left out) only returns to MAPPING."""
    out = [ofp.flow(P.EGRESS_COMMIT, 0, ofp.match(), cookie=P.cookie(P.KIND_FIREWALL))]
    if enforce:
        out.append(ofp.flow(P.EGRESS_COMMIT, 10, ofp.match(eth_type=ofp.IP, ct_state=ct_state(P.CT_NEW)),
                            [ofp.ct(P.REG_SRC_ENI, commit=True)], cookie=P.cookie(P.KIND_FIREWALL)))
    return out


def zone_limits(idents, limit=P.CT_ZONE_LIMIT):
    """ovs-appctl arguments that cap the conntrack zone of each ENI (its ident) at `limit`
    connections, so that one ENI cannot fill the tracker all share.  Each zone is named: on this
    userspace datapath (OVS 3.1) `default=N` keeps one counter for all the zones without a limit of
    their own, which would make it a global limit that one flood fills for everyone."""
    return ['dpctl/ct-set-limits', *(f'zone={z},limit={limit}' for z in sorted(idents))]


def commit_actions(table, zone_reg):
    """What a rule that allows a new flow does: inbound, the last drop decision, commits; outbound
    leaves it to EGRESS_COMMIT."""
    return [ofp.ct(zone_reg, commit=True)] if table == P.INGRESS_SG_RULES else []


class SecurityGroups:
    """The per-ENI flows of one host, and what its switch holds of them, so that a change of
    rules replaces exactly the flows that changed."""

    def __init__(self, enforce=True):
        self.enforce = enforce
        self.compiled = {}                   # ENI key -> what its groups allow (from the mapping service)
        self.held = {}                       # ENI key -> {(table, match fields): (zone reg, next)}

    def plug(self, e, flow_logs):
        """Per-ENI flows: its default deny in both directions (logged as REJECT), and its rules."""
        if not self.enforce:
            return []
        reject = flow_log.log(P.LOG_REJECT, eni=e.ident) if flow_logs else ()
        out = [ofp.drop(table, 10, ofp.match(eth_type=ofp.IP, **{reg: e.ident}), 'security-group', reject)
               for _, table, reg, _, _ in DIRECTIONS]
        return out + self.set_groups(e, self.compiled.get(e.key, {}), force=True)

    def unplug(self, e):
        return [ofp.delete(table=table, match=ofp.match(**{reg: e.ident})) for _, table, reg, _, _ in DIRECTIONS]

    def set_groups(self, e, compiled, force=False):
        """Make the switch hold exactly the flows of `compiled` (security_group_matches) for e: new
        flows first, then the ones no longer wanted go, so that allowed traffic never sees a gap."""
        if not self.enforce:
            return []
        self.compiled[e.key] = compiled
        held = {} if force else self.held.get(e.key, {})
        want = {}
        for direction, table, reg, peer_field, after in DIRECTIONS:
            for m in compiled.get(direction, ()):
                for fields in rules.fields(Match(*m), peer_field, ct_state=ct_state(P.CT_NEW), **{reg: e.ident}):
                    want[(table, tuple(sorted(fields.items())))] = (reg, after)
        out = []
        for key in want.keys() - held.keys():
            (table, fields), (reg, after) = key, want[key]
            out.append(ofp.flow(table, 100, rules.of_match(dict(fields)), commit_actions(table, reg),
                                goto=after, cookie=P.cookie(P.KIND_SG, e.ident)))
        out += [ofp.delete_strict(table, 100, rules.of_match(dict(fields)))
                for table, fields in held.keys() - want.keys()]
        self.held[e.key] = want
        return out
