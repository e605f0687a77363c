"""EGRESS_SG/EGRESS_SG_RULES and INGRESS_SG/INGRESS_SG_RULES: security groups, stateful.

conntrack runs in the ENI's own zone (its ident): established and related packets pass, invalid
ones drop, and a new flow must match a rule of one of the ENI's groups (AWS: the union of their
rules; `sg:<group>` means the group's members).  It is committed after the last drop decision of
its side: arriving, by the inbound rule that allows it; leaving, at EGRESS_COMMIT, which MAPPING
resubmits to once the network ACL, the route table and the mapping let it go (`commit_actions`).
"""
import itertools

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


def security_group_matches(groups, eni_groups):
    """What one ENI allows: {'inbound': [Match], 'outbound': [Match]}, the union of the rules of
    all its groups (AWS: a packet passes if any rule of any group allows it).  A rule whose other
    end is `sg:<group>` (the group's members) keeps that as its cidr: the members travel apart
    (SecurityGroupBook), so that a member coming or going changes no ENI's matches."""
    out = {}
    for direction in ('inbound', 'outbound'):
        found = set()
        for name in eni_groups:
            for rule in groups[name][direction]:
                found.update(rules.matches(rule, [rule['peer']]))
        out[direction] = sorted(found, key=_order)
    return out


def named_groups(compiled):
    """The groups that an ENI's matches name (sg:<group>)."""
    return {m.cidr[3:] for ms in compiled.values() for m in ms if m.cidr.startswith('sg:')}


def _order(m):
    return tuple(-1 if v is None else v for v in (m.protocol, m.port, m.mask)) + (m.cidr,)


class SecurityGroupBook:
    """The groups of every VPC, and what each host was last told about its ENIs and about the
    members of the groups their rules name, so that a rule change or a membership change reaches
    exactly the hosts it concerns, as exactly what changed (the mapping service keeps it)."""

    def __init__(self, groups):
        self.groups = {int(vni): dict(g) for vni, g in groups.items()}   # vni -> name -> rules
        self._told = {}                    # host -> {ENI key: compiled matches}
        self._told_members = {}            # host -> {(vni, group): frozenset of member /32s}

    def set_rules(self, vni, name, inbound, outbound):
        if name not in self.groups.get(vni, {}):
            raise KeyError(f'VPC {vni} has no security group {name!r}')
        self.groups[vni][name] = dict(inbound=list(inbound), outbound=list(outbound))

    def changes_for(self, host, entries):
        """({ENI key: matches} for the ENIs now on `host` whose matches changed since it was told,
        {(vni, group): member /32s} for the groups their rules name whose members changed; a
        group no longer named comes with no members)."""
        membership = members(entries)
        told, told_members = self._told.get(host, {}), self._told_members.get(host, {})
        now = {e.key: security_group_matches(self.groups[e.vni], e.security_groups)
               for e in entries if e.host == host}
        named = {(key[0], g) for key, compiled in now.items() for g in named_groups(compiled)}
        members_now = {k: frozenset(membership.get(k, ())) for k in named}
        changed = {k: m for k, m in now.items() if told.get(k) != m}
        changed_members = {k: m for k, m in members_now.items() if told_members.get(k) != m}
        changed_members.update((k, frozenset()) for k in told_members.keys() - members_now.keys())
        self._told[host], self._told_members[host] = now, members_now
        return changed, changed_members


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


DIRECT_PRIORITY = 100    # a rule whose other end is a CIDR: a flow per ENI and match
CONJ_PRIORITY = 90       # a rule naming a group: conjunctive flows (an allow is an allow, whichever decides)
CLAUSES = 2              # 0: the ENIs (register, ct +new, protocol, ports); 1: the members' addresses


def allow(table, priority, match, reg, after, cookie):
    """A new flow the rules allow: on to `after`; committed in the ENI's zone (its register) where that
    is its side's last drop decision (commit_actions)."""
    return ofp.flow(table, priority, match, commit_actions(table, reg), goto=after, cookie=cookie)


def _key(table, fields):
    return table, tuple(sorted(fields.items()))


class Conjunction:
    """One rule naming a group (protocol, ports, sg:<group>) in one direction on one host, as OVN
    and Neutron's OVS firewall build it: clause 0 holds a flow per ENI whose groups hold the rule
    (and per port match), clause 1 a flow per member address, sharing `id`; the conj_id flow commits
    and continues.  ENIs + members flows, not their product.  It is lit (its flows in the switch)
    while both clauses have flows: OVS wants every clause present.  Overlapping conjunctions (two
    groups named for the same ENI and port) are harmless here: every conj_id flow does the same."""

    def __init__(self, ident, key):
        direction, self.vni, self.group, protocol, port, mask = key
        self.id, self.rule = ident, Match(protocol, '0.0.0.0/0', port, mask)
        _, self.table, self.reg, self.peer_field, self.after = next(d for d in DIRECTIONS if d[0] == direction)
        self.enis = {}           # ENI key -> the keys (table, fields) of its clause-0 flows
        self.offered = frozenset()   # the member /32s whose clause-1 flows are wanted
        self.lit = False

    def eni_keys(self, e):
        return [_key(self.table, f) for f in rules.fields(self.rule, self.peer_field, ct_state=ct_state(P.CT_NEW),
                                                          **{self.reg: e.ident})]

    def member_keys(self, cidrs):
        return [_key(self.table, f) for c in sorted(cidrs) for f in rules.fields(Match(None, c, None, None),
                                                                                  self.peer_field)]

    def conj_id_flow(self):
        return allow(self.table, CONJ_PRIORITY, ofp.match(conj_id=self.id, eth_type=ofp.IP), self.reg, self.after,
                     P.cookie(P.KIND_SG))


class SecurityGroups:
    """The per-ENI flows of one host, and what its switch holds of them, so that a change of
    rules or of a named group's members replaces exactly the flows that changed."""

    def __init__(self, enforce=True):
        self.enforce = enforce
        self.compiled = {}                   # ENI key -> what its groups allow (from the mapping service)
        self.held = {}                       # ENI key -> {(table, match fields): (zone reg, next)}: direct rules
        self.members = {}                    # (vni, group) -> member /32s, of the groups local rules name
        self.conjunctions = {}               # (direction, vni, group, protocol, port, mask) -> Conjunction
        self.joined = {}                     # ENI key -> the conjunctions of its rules naming groups
        self.wanted = {}                     # (table, fields) of a conjunctive flow -> {(id, clause)}
        self.sent = {}                       # (table, fields) -> what the switch holds of it
        self._ids = itertools.count(1)
        self._touched, self._lit, self._dimmed = {}, {}, {}

    def plug(self, e, flow_logs):
        """Per-ENI flows: its default deny in both directions (logged as REJECT), and its rules."""
        if not self.enforce:
            return []
        reject = flow_log.log(P.LOG_REJECT, eni=e.ident) if flow_logs else ()
        out = [ofp.drop(table, 10, ofp.match(eth_type=ofp.IP, **{reg: e.ident}), 'security-group', reject)
               for _, table, reg, _, _ in DIRECTIONS]
        return out + self.set_groups(e, self.compiled.get(e.key, {}), force=True)

    def unplug(self, e):
        out = [ofp.delete(table=table, match=ofp.match(**{reg: e.ident})) for _, table, reg, _, _ in DIRECTIONS]
        if not self.enforce:
            return out
        for k in self.joined.get(e.key, ()):              # gone with the delete above
            for key in self.conjunctions[k].enis[e.key]:
                self.sent.pop(key, None)
        self.held.pop(e.key, None)
        self._join(e, set())
        return out + [m for part in self._flush() for m in part]

    def set_groups(self, e, compiled, force=False):
        """Make the switch hold exactly the flows of `compiled` (security_group_matches) for e: new
        flows first, then the ones no longer wanted go, so that allowed traffic never sees a gap."""
        if not self.enforce:
            return []
        self.compiled[e.key] = compiled
        held = {} if force else self.held.get(e.key, {})
        want, joined = {}, set()
        for direction, table, reg, peer_field, after in DIRECTIONS:
            for m in compiled.get(direction, ()):
                m = Match(*m)
                if m.cidr.startswith('sg:'):
                    joined.add((direction, e.vni, m.cidr[3:], m.protocol, m.port, m.mask))
                    continue
                for fields in rules.fields(m, peer_field, ct_state=ct_state(P.CT_NEW), **{reg: e.ident}):
                    want[_key(table, fields)] = (reg, after)
        adds = []
        for key in want.keys() - held.keys():
            (table, fields), (reg, after) = key, want[key]
            adds.append(allow(table, DIRECT_PRIORITY, rules.of_match(dict(fields)), reg, after,
                              P.cookie(P.KIND_SG, e.ident)))
        deletes = [ofp.delete_strict(table, DIRECT_PRIORITY, rules.of_match(dict(fields)))
                   for table, fields in held.keys() - want.keys()]
        self.held[e.key] = want
        self._join(e, joined)
        first, then = self._flush()
        return adds + first + then + deletes

    def set_members(self, changes):
        """{(vni, group): member /32s} of named groups that changed: only member clauses change
        (and a conjunction lights up or goes dark when its group gains a first or loses a last member)."""
        if not self.enforce:
            return []
        for group, now in changes.items():
            if now:
                self.members[group] = frozenset(now)
            else:
                self.members.pop(group, None)
            for c in [c for c in self.conjunctions.values() if (c.vni, c.group) == group]:
                self._update(c)
        first, then = self._flush()
        return first + then

    # ---- conjunctions: what the switch should hold, then the messages -------------------------
    def _join(self, e, now):
        """The conjunctions of e's rules naming groups are now `now` (their keys)."""
        before = self.joined.get(e.key, set())
        for k in now - before:
            c = self.conjunctions.get(k) or self.conjunctions.setdefault(k, Conjunction(next(self._ids), k))
            c.enis[e.key] = c.eni_keys(e)
            if c.lit:
                self._offer(c.enis[e.key], (c.id, 0))
            self._update(c)
        for k in before - now:
            c = self.conjunctions[k]
            keys = c.enis.pop(e.key)
            if c.lit:
                self._withdraw(keys, (c.id, 0))
            self._update(c)
            if not c.enis:
                del self.conjunctions[k]
        if now:
            self.joined[e.key] = now
        else:
            self.joined.pop(e.key, None)

    def _update(self, c):
        """Make what c wants follow its ENIs and its group's members."""
        members = self.members.get((c.vni, c.group), frozenset()) if c.enis else frozenset()
        lit = bool(members)
        if lit != c.lit:
            for keys in c.enis.values():
                (self._offer if lit else self._withdraw)(keys, (c.id, 0))
            (self._lit if lit else self._dimmed)[c.id] = c
        self._offer(c.member_keys(members - c.offered), (c.id, 1))
        self._withdraw(c.member_keys(c.offered - members), (c.id, 1))
        c.offered, c.lit = members, lit

    def _offer(self, keys, part):
        for key in keys:
            self.wanted.setdefault(key, set()).add(part)
            self._touched[key] = True

    def _withdraw(self, keys, part):
        for key in keys:
            self.wanted.get(key, set()).discard(part)
            self._touched[key] = True

    def _flush(self):
        """(first, then): conj_id flows of new conjunctions and flows gaining conjunctions first;
        then flows losing some (each one flow-mod: OVS wants a match's conjunctions in one flow) and
        the conj_id flows of dark ones, so that what was allowed stays allowed throughout."""
        first = [c.conj_id_flow() for c in self._lit.values() if c.lit]
        then = []
        for key in self._touched:
            want, sent = frozenset(self.wanted.get(key, ())), self.sent.get(key, frozenset())
            both = want | sent
            if both != sent:
                first.append(self._clause_flow(key, both))
            if want != both:
                then.append(self._clause_flow(key, want) if want else
                            ofp.delete_strict(key[0], CONJ_PRIORITY, rules.of_match(dict(key[1]))))
            if want:
                self.sent[key] = want
            else:
                self.sent.pop(key, None)
                self.wanted.pop(key, None)
        then += [ofp.delete_strict(c.table, CONJ_PRIORITY, ofp.match(conj_id=c.id, eth_type=ofp.IP))
                 for c in self._dimmed.values() if not c.lit]
        self._touched, self._lit, self._dimmed = {}, {}, {}
        return first, then

    @staticmethod
    def _clause_flow(key, parts):
        table, fields = key
        return ofp.flow(table, CONJ_PRIORITY, rules.of_match(dict(fields)),
                        [ofp.conjunction(ident, clause, CLAUSES) for ident, clause in sorted(parts)],
                        cookie=P.cookie(P.KIND_SG))
