"""The hypervisor's OpenFlow pipeline, table by table, in the order a packet meets it.

Seed 000's journey, steps 1-8, with seed 002's flow tracking:
  CLASSIFY        where did it enter?  An instance port admits only the instance's own MAC
                  and IP (anti-spoofing), tags the packet with its VPC (metadata = VNI), its
                  ENI (REG_SRC_ENI) and its subnet (REG_SUBNET); the tunnel port sends
                  encapsulated packets to the receiving-side check.
  ARP             steps 1-3: ARP never leaves the host; the host cache answers it.
  EGRESS_SG       security group, outbound, stateful: conntrack in the sender's zone
  EGRESS_SG_RULES (one zone per ENI), then: established/related pass, invalid drop, new
                  must match a rule of the ENI's groups and is committed.
  EGRESS_NACL     network ACL of the sender's subnet, outbound, stateless, first match wins.
  ROUTE_TABLE     the sender subnet's route table: local and peering routes go on to the
                  mapping lookup; gateways that are not built yet, blackholes and
                  destinations without a route are dropped with that reason.
  MAPPING         steps 4-6: the host cache maps (VPC, destination IP) to the destination's
                  physical host and MAC; remote destinations are encapsulated
                  (outer IP = that host, VNI = the sender's VPC) and sent to the tunnel port.
  CHECK           step 7: is (VNI, inner source IP, inner source MAC) registered on the
                  physical host the packet came from (outer source IP)?  Else drop + alert.
  DESTINATION     which local ENI the packet is for (REG_DST_ENI, REG_SUBNET).
  INGRESS_NACL    network ACL of the receiver's subnet, inbound.
  INGRESS_SG      security group, inbound, stateful, in the receiver's zone.
  INGRESS_SG_RULES
  DELIVER         step 8: to the instance's port.
  FLOW_LOG        not a step: decisions resubmit here to count packets per ENI and 5-tuple.
goto_table only moves forward, which is why the tables are numbered in this order.
"""
(CLASSIFY, ARP, EGRESS_SG, EGRESS_SG_RULES, EGRESS_NACL, ROUTE_TABLE, MAPPING, CHECK,
 DESTINATION, INGRESS_NACL, INGRESS_SG, INGRESS_SG_RULES, DELIVER, FLOW_LOG) = (
    0, 10, 20, 21, 30, 40, 50, 60, 70, 80, 90, 91, 100, 110)

# Registers carried along the pipeline (they survive conntrack recirculation).
REG_SRC_ENI = 'reg0'         # ident of the sending ENI (local senders only): its conntrack zone
REG_DST_ENI = 'reg1'         # ident of the receiving local ENI: its conntrack zone
REG_SUBNET = 'reg2'          # sender's subnet on egress, receiver's subnet on ingress
REG_LOG_ENI = 'reg3'         # flow logs: the ENI a record belongs to
REG_LOG_ACTION = 'reg4'      # flow logs: ACCEPT or REJECT
LOG_ACCEPT, LOG_REJECT = 1, 2

# conntrack state bits (ct_state)
CT_NEW, CT_EST, CT_REL, CT_RPL, CT_INV, CT_TRK = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

TUNNEL_PORT = 60000          # ofport of every hypervisor bridge's flow-based tunnel port
ROUTER_MAC = '0e:00:00:00:00:01'   # the VPC router answers ARP for each subnet's .1
ALERT_METER = 1              # rate-limits drop samples sent to the controller

# Cookies say who owns a flow, so that a cache entry's flows can be replaced or
# removed together, and drop flows can be counted by reason.
KIND_SHIFT = 48
KIND_MASK = 0xffff << KIND_SHIFT
(KIND_BASE, KIND_LOCAL, KIND_CACHE, KIND_DROP, KIND_MISS, KIND_GATEWAY, KIND_SG, KIND_FIREWALL,
 KIND_FLOW_LOG) = range(1, 10)


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
    7: 'unsupported-protocol',  # neither IPv4 nor ARP (this VPC carries IPv4 only)
    8: 'security-group',        # a new flow that no rule of the ENI's security groups allows
    9: 'invalid-packet',        # conntrack: out of the TCP window, bad state, unrelated ICMP error
    10: 'network-acl',          # denied by a network ACL rule, or by its implicit final deny
    11: 'no-route',             # no route of the subnet's route table covers the destination
    12: 'blackhole',            # the route's target is a blackhole
    13: 'target-not-built',     # the route's gateway (igw, nat, vgw, dx, vpce) is not built yet
}
REASON_CODE = {name: code for code, name in DROP_REASONS.items()}
ALERTING_REASONS = ('spoofed-source', 'unregistered-source')
