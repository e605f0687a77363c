"""The per-host virtual router's OpenFlow pipeline, declared once: its stages in the order a
packet meets them, with their table numbers, names, journey steps and drop reasons.

Everything else reads this declaration: the flow builders (controllers/router/), the tests, the
OVS table names (`ovs-ofctl --names dump-flows`, `ofproto/trace`) and the tables in
docs/architecture.md and docs/firewall.md (`python -m controllers.pipeline --markdown`, or
`--update-docs` to rewrite them). goto_table only moves forward, which is why the tables are
numbered in this order; controllers/router/ofp.py refuses to build a flow that jumps back.
"""
import argparse
import pathlib
import re
import sys
from collections import namedtuple

Stage = namedtuple('Stage', 'table name step does reasons')

STAGES = (
    Stage(0, 'CLASSIFY', 'where the packet enters',
          'from an instance port only the instance\'s own MAC and IP pass (anti-spoofing), tagged with its VPC '
          '(metadata = VNI), ENI (reg0) and subnet (reg2); a sample of spoofed packets goes to the controller '
          '(metered) and raises an alert; an 802.1Q-tagged frame is unsupported. From the tunnel port: to CHECK. '
          'DNS and metadata requests go to the service port (at most `ENI_SERVICES_PPS` packets a second per ENI, '
          'its own meter), DHCP to the router (docs/services.md), before any security group, ACL or flow log.',
          ('spoofed-source', 'unknown-port', 'unsupported-protocol', 'service-address', 'services-throttled')),
    Stage(10, 'ARP', '1-3 ARP answered on the host',
          'the host cache answers ARP for instances of the sender\'s VPC, the VPC router (`0e:00:00:00:00:01`) '
          'for each subnet\'s `.1` and for the addresses of NLBs and interface endpoints; the reply is built in '
          'the switch and goes back out the port it came in.',
          ('arp-unknown-target',)),
    Stage(20, 'EGRESS_SG', '4 security group out',
          '`ct(zone=reg0)`: conntrack in the **sender ENI\'s zone**, which holds at most `CT_ZONE_LIMIT` '
          'connections.', ()),
    Stage(21, 'EGRESS_SG_RULES', '4 security group out',
          '`+inv` drop; `+est`/`+rel` pass; `+new` must match an outbound rule of the ENI\'s groups (committed '
          'at EGRESS_COMMIT).', ('invalid-packet', 'security-group')),
    Stage(30, 'EGRESS_NACL', '4 network ACL out',
          'the sender subnet\'s ACL, outbound, first match by rule number; not applied inside the subnet.',
          ('network-acl',)),
    Stage(40, 'ROUTE_TABLE', '4 route table',
          'the sender subnet\'s route table, longest prefix: local and `pcx:` go on to MAPPING, with the VPC the '
          'route names (reg5: the sender\'s own, or the peered VPC of the `pcx:` route); `igw`, `vgw`, `dx:` and '
          '`vpce:` leave the VPC: encapsulated in its VNI to an edge node (Blackfoot; igw and vpce: spread over the '
          'nodes by source address), connection committed; `nat:` goes to HYPERPLANE (reg6: which NAT gateway; '
          'without Hyperplane nodes `target-not-built`). Above every route: a packet to an NLB\'s address on a '
          'listener port, to an interface endpoint\'s address, or from an NLB\'s target on its target port '
          '(the reply) goes to HYPERPLANE too.',
          ('no-route', 'blackhole', 'target-not-built')),
    Stage(45, 'HYPERPLANE', '4 route table: to a Hyperplane node',
          'one node of the resource\'s shard per flow, stateless: the flow\'s bucket (low bits of the client\'s '
          'address and port: the source on the way in, the destination for an NLB target\'s reply, so both '
          'directions meet) goes to the live node ranked first by rendezvous hash of (resource, bucket); '
          'encapsulated in the VPC\'s VNI to the node\'s underlay address, connection committed. A failed '
          'node\'s buckets move to the survivors, the others stay; with no live node the packet is dropped.',
          ('no-live-node',)),
    Stage(50, 'MAPPING', '4-6 mapping look-up, encapsulation',
          '(VNI, route\'s VPC, destination IP) -> destination MAC and, if remote, `tunnel_id` = sender\'s VNI, '
          '`tun_dst` = destination host\'s underlay IP, out the tunnel port; a miss asks the mapping service for '
          'that VPC (reactive: metered per sending ENI; an unknown destination is remembered for `NEGATIVE_S`).',
          ('no-mapping',)),
    Stage(55, 'EGRESS_COMMIT', '4 security group out: the connection is tracked',
          'MAPPING resubmits here once nothing on the sending side can drop the packet: a `+new` flow is '
          '`ct(commit)`ted in the sender ENI\'s zone, so a packet that an ACL, a route or a missing mapping '
          'drops leaves no connection behind.', ()),
    Stage(60, 'CHECK', '7 the receiving check',
          'an encapsulated packet passes only if (VNI, inner source IP and MAC) is registered on the host '
          'that is its outer source; else it is dropped and an alert says why. A tagged inner frame is unsupported.',
          ('unregistered-source', 'unsupported-protocol')),
    Stage(70, 'DESTINATION', 'which local ENI',
          'the receiving ENI (reg1) and its subnet (reg2); from a peered VPC, by destination MAC too.',
          ('no-local-destination',)),
    Stage(80, 'INGRESS_NACL', '8 network ACL in',
          'the receiver subnet\'s ACL, inbound.', ('network-acl',)),
    Stage(90, 'INGRESS_SG', '8 security group in',
          '`ct(zone=reg1)`: conntrack in the **receiver ENI\'s zone**.', ()),
    Stage(91, 'INGRESS_SG_RULES', '8 security group in',
          'as EGRESS_SG_RULES, with the ENI\'s inbound rules.', ('invalid-packet', 'security-group')),
    Stage(100, 'DELIVER', '8 delivery', 'to the instance\'s port.', ('no-local-destination',)),
    Stage(110, 'FLOW_LOG', 'not a step: VPC flow logs',
          'decisions `resubmit` here to be counted per ENI and 5-tuple.', ()),
)
_BY_NAME = {s.name: s for s in STAGES}
_BY_TABLE = {s.table: s for s in STAGES}


def stage(which):
    """The Stage of a table number or name: 0, '0', 'CLASSIFY' and 'classify' are the same."""
    key = str(which).strip()
    found = _BY_TABLE.get(int(key)) if key.isdigit() else _BY_NAME.get(key.upper())
    if found is None:
        raise KeyError(f'no pipeline stage {which!r} (stages: {", ".join(_BY_NAME)})')
    return found


# The table numbers as module constants, for code that names one stage.
(CLASSIFY, ARP, EGRESS_SG, EGRESS_SG_RULES, EGRESS_NACL, ROUTE_TABLE, HYPERPLANE, MAPPING, EGRESS_COMMIT, CHECK,
 DESTINATION, INGRESS_NACL, INGRESS_SG, INGRESS_SG_RULES, DELIVER, FLOW_LOG) = (s.table for s in STAGES)

# Registers carried along the pipeline (they survive conntrack recirculation).
REG_SRC_ENI = 'reg0'         # ident of the sending ENI (local senders only): its conntrack zone
REG_DST_ENI = 'reg1'         # ident of the receiving local ENI: its conntrack zone
REG_SUBNET = 'reg2'          # sender's subnet on egress, receiver's subnet on ingress
REG_LOG_ENI = 'reg3'         # flow logs: the ENI a record belongs to
REG_LOG_ACTION = 'reg4'      # flow logs: ACCEPT or REJECT
REG_DST_VPC = 'reg5'         # the VPC (VNI) the sender's route table sends the destination to: its own
#                              or, by a pcx: route, one peered VPC (two peers may share addresses)
REG_HYPERPLANE = 'reg6'      # ROUTE_TABLE -> HYPERPLANE: which resource and direction (hyperplane.py)
LOG_ACCEPT, LOG_REJECT = 1, 2

# conntrack state bits (ct_state)
CT_NEW, CT_EST, CT_REL, CT_INV, CT_TRK = 0x01, 0x02, 0x04, 0x10, 0x20

TUNNEL_PORT = 60000          # ofport of every host bridge's flow-based tunnel port
ROUTER_MAC = '0e:00:00:00:00:01'   # the VPC router answers ARP for each subnet's .1
# The VPC's own services, answered on the host (docs/services.md): the bridge's port to the host's
# service namespace and that namespace's MAC.
SERVICE_PORT = 60001
SERVICE_MAC = '0e:00:00:00:00:02'

# What one tenant may cost the others (issue 14 item 3).  Packet-ins are metered per sending ENI, so that
# one ENI's noise neither hides another's alerts nor delays another's misses; conntrack zones are per ENI
# and each holds at most CT_ZONE_LIMIT connections (the router app sets it per ENI zone: ovs-appctl
# dpctl/ct-set-limits; security_groups.zone_limits).
ALERT_METER = 1              # samples of encapsulated packets that fail the CHECK (the fabric, not a tenant)
CHECK_MISS_METER = 2         # reactive: first packets from a remote sender this host has not cached
ALERT_PPS, ALERT_BURST = 50, 20
CHECK_MISS_PPS, CHECK_MISS_BURST = 500, 100
ENI_ALERT_PPS, ENI_ALERT_BURST = 20, 10          # per ENI: samples of its spoofed packets
ENI_PACKET_IN_PPS, ENI_PACKET_IN_BURST = 200, 50  # per ENI: reactive misses and flow-log first packets
# per ENI: its DNS and metadata requests together, AWS's limit (docs/services.md); the burst lets a
# resolver's start-up questions through at once
ENI_SERVICES_PPS, ENI_SERVICES_BURST = 1024, 128
CT_ZONE_LIMIT = 20000        # connections per ENI zone
NEGATIVE_S = 5               # reactive: how long a host remembers that a destination does not exist
FLOW_LOG_FLOW_LIMIT = 10000  # learned flow-log counting flows per host; the ENI with most loses its oldest
ENI_METERS = 3               # each ENI's meters: its alert samples, its packet-ins, its services


def eni_alert_meter(ident):
    return 16 + ENI_METERS * ident


def eni_packet_in_meter(ident):
    return 17 + ENI_METERS * ident


def eni_services_meter(ident):
    return 18 + ENI_METERS * ident


def is_services_meter(meter_id):
    return meter_id > 18 and (meter_id - 18) % ENI_METERS == 0

# Cookies say who owns a flow, so that a cache entry's flows can be replaced or
# removed together, and drop flows can be counted by reason.
KIND_SHIFT = 48
KIND_MASK = 0xffff << KIND_SHIFT
(KIND_BASE, KIND_LOCAL, KIND_CACHE, KIND_DROP, KIND_MISS, KIND_GATEWAY, KIND_SG, KIND_FIREWALL,
 KIND_FLOW_LOG, KIND_DHCP, KIND_HYPERPLANE) = range(1, 12)


def cookie(kind, ident=0):
    return (kind << KIND_SHIFT) | ident


def cookie_kind(value):
    return value >> KIND_SHIFT


def cookie_ident(value):
    return value & ((1 << KIND_SHIFT) - 1)


# Why a packet was dropped.  Each has a code (kept in the drop flow's cookie).
DROP_REASONS = {
    1: 'spoofed-source',        # an instance sent from a MAC/IP that is not its own
    2: 'no-mapping',            # no instance with that IP in the VPC or a peered VPC
    3: 'unregistered-source',   # tunnel packet whose inner source is not on the sending host
    4: 'no-local-destination',  # tunnel packet for an instance that is not on this host
    5: 'arp-unknown-target',    # ARP for an address the VPC does not have
    6: 'unknown-port',          # a packet from a port that no instance owns
    7: 'unsupported-protocol',  # neither IPv4 nor ARP (this VPC carries IPv4 only), or 802.1Q-tagged
    8: 'security-group',        # a new flow that no rule of the ENI's security groups allows
    9: 'invalid-packet',        # conntrack: out of the TCP window, bad state, unrelated ICMP error
    10: 'network-acl',          # denied by a network ACL rule, or by its implicit final deny
    11: 'no-route',             # no route of the subnet's route table covers the destination
    12: 'blackhole',            # the route's target is a blackhole
    13: 'target-not-built',     # the route's gateway is not built (igw, vgw, dx, vpce without an edge;
                                # nat: without Hyperplane nodes)
    14: 'service-address',      # to an ENI's service address (100.126.0.0/16): it never leaves the host
    15: 'no-live-node',         # every Hyperplane node of the resource's shard has failed
    16: 'services-throttled',   # the ENI's DNS and metadata requests above ENI_SERVICES_PPS: its services
                                # meter drops them (no flow carries this code: the meters are counted)
}
REASON_CODE = {name: code for code, name in DROP_REASONS.items()}
ALERTING_REASONS = ('spoofed-source', 'unregistered-source')


def drop_cookie(reason):
    return cookie(KIND_DROP, REASON_CODE[reason])


# ---- what reads the declaration outside the controller ---------------------------------------

def ovs_table_names(bridges):
    """ovs-vsctl arguments (a list, no shell) that name every stage's table on `bridges` (one
    shared Flow_Table row per stage), to append to an ovs-vsctl command."""
    # FLOW_LOG learns a flow per new 5-tuple: bounded, and when full the ENI (reg3) with the most
    # counting flows loses its oldest, so that one ENI's new flows cannot push out another's
    limits = {FLOW_LOG: [f'flow_limit={FLOW_LOG_FLOW_LIMIT}', 'overflow_policy=evict', 'groups="NXM_NX_REG3[]"']}
    args = []
    for s in STAGES:
        args += ['--', f'--id=@t{s.table}', 'create', 'flow_table', f'name={s.name}', *limits.get(s.table, ())]
    names = [f'flow_tables:{s.table}=@t{s.table}' for s in STAGES]
    for br in bridges:
        args += ['--', 'set', 'bridge', br, *names]
    return args


def markdown():
    lines = ['| table | stage | journey step | what the flows do | drop reasons |', '|---|---|---|---|---|']
    lines += [f'| {s.table} | {s.name} | {s.step} | {s.does} | {", ".join(s.reasons)} |' for s in STAGES]
    return '\n'.join(lines) + '\n'


BEGIN, END = '<!-- pipeline table: python -m controllers.pipeline --update-docs -->', '<!-- end of pipeline table -->'
DOCS = ('docs/architecture.md', 'docs/firewall.md')
_EMBEDDED = re.compile(re.escape(BEGIN) + r'\n.*?' + re.escape(END), re.S)


def embed(text):
    """`text` with the table between its markers replaced by the declaration's."""
    if not _EMBEDDED.search(text):
        raise ValueError('no pipeline table markers')
    return _EMBEDDED.sub(lambda _: f'{BEGIN}\n{markdown()}{END}', text)


def main(argv=None):
    ap = argparse.ArgumentParser(description='The pipeline declaration, for people and docs.')
    ap.add_argument('--markdown', action='store_true', help='print the stages as a markdown table')
    ap.add_argument('--update-docs', action='store_true', help=f'rewrite the table in {" and ".join(DOCS)}')
    args = ap.parse_args(argv)
    if args.update_docs:
        root = pathlib.Path(__file__).resolve().parent.parent
        for doc in DOCS:
            path = root / doc
            path.write_text(embed(path.read_text()))
    elif args.markdown:
        sys.stdout.write(markdown())
    else:
        for s in STAGES:
            print(f'{s.table:4} {s.name:17} {s.step}')


if __name__ == '__main__':
    main()
