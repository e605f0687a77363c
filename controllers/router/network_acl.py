"""EGRESS_NACL and INGRESS_NACL: the network ACL of the sender's subnet (outbound) and of the
receiver's subnet (inbound); stateless, first match by rule number wins, the rest is denied."""
from controllers import pipeline as P
from controllers.router import flow_log, ofp, rules

ACL_PRIORITY_TOP = 33000          # rule N gets priority 33000 - N: lower numbers are evaluated first
INSIDE_PRIORITY = 40000
# (table, the ENI's register, rule direction, the rules' peer field, next table)
DIRECTIONS = ((P.EGRESS_NACL, P.REG_SRC_ENI, 'outbound', 'ipv4_dst', P.ROUTE_TABLE),
              (P.INGRESS_NACL, P.REG_DST_ENI, 'inbound', 'ipv4_src', P.INGRESS_SG))


def acl_entries(rule_list):
    """[(priority, Match, allow)] of one direction of an ACL, evaluated lowest rule number first;
    what no rule matches is denied (the implicit rule *)."""
    return [(ACL_PRIORITY_TOP - r['number'], m, r['action'] == 'allow')
            for r in rule_list for m in rules.matches(r, [r['peer']])]


def acl_matches(m, peer_field, allow, own):
    """The OpenFlow matches of one ACL rule.  A later fragment carries no ports, so a rule with ports
    cannot tell which datagram it belongs to: an allow admits it (as the security groups do), a deny
    leaves it to the next rules.  Its first fragment, which has the ports, is what the rule decides, and
    the receiver's reassembler (conntrack) never releases later fragments without their first."""
    return [rules.of_match(f) for f in rules.fields(m, peer_field, **own) if allow or 'ip_frag' not in f]


def base():
    return [ofp.drop(table, 0, ofp.match(), 'network-acl') for table, *_ in DIRECTIONS]


def subnet(s):
    """The flows of one subnet's ACL, both directions.  ACCEPT is logged where a direction's
    decisions are all made: leaving, here; arriving, at delivery."""
    out = []
    own = {P.REG_SUBNET: s['index']}
    for table, eni_reg, direction, peer_field, after in DIRECTIONS:
        accept = flow_log.log(P.LOG_ACCEPT, eni_reg) if s['flow_logs'] and direction == 'outbound' else []
        reject = flow_log.log(P.LOG_REJECT, eni_reg) if s['flow_logs'] else []
        owner = P.cookie(P.KIND_FIREWALL)
        # AWS evaluates ACLs where traffic crosses the subnet's edge, not inside the subnet
        inside = ofp.match(eth_type=ofp.IP, **own, **{peer_field: rules.net(s['cidr'])})
        out.append(ofp.flow(table, INSIDE_PRIORITY, inside, accept, goto=after, cookie=owner))
        if s['acl'] is None:              # the default ACL allows everything
            out.append(ofp.flow(table, 1, ofp.match(eth_type=ofp.IP, **own), accept, goto=after, cookie=owner))
            continue
        for priority, m, allow in acl_entries(s['acl'][direction]):
            for match in acl_matches(m, peer_field, allow, own):
                out.append(ofp.flow(table, priority, match, accept, goto=after, cookie=owner) if allow
                           else ofp.drop(table, priority, match, 'network-acl', reject))
        out.append(ofp.drop(table, 1, ofp.match(eth_type=ofp.IP, **own), 'network-acl', reject))
    return out
