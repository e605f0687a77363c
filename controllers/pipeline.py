"""The hypervisor's OpenFlow pipeline, table by table, in the order a packet meets it.

Seed 000's journey, steps 1-8:
  CLASSIFY  where did it enter?  An instance port admits only the instance's own MAC
            and IP (anti-spoofing) and tags the packet with its VPC (metadata = VNI);
            the tunnel port sends encapsulated packets to the receiving-side check.
  ARP       steps 1-3: ARP never leaves the host; the host cache answers it.
  ROUTE     steps 4-6: the host cache maps (VPC, destination IP) to the destination's
            physical host and MAC; remote destinations are encapsulated
            (outer IP = that host, VNI = the sender's VPC) and sent to the tunnel port.
  CHECK     step 7: is (VNI, inner source IP, inner source MAC) registered on the
            physical host the packet came from (outer source IP)?  Else drop + alert.
  DELIVER   step 8: decapsulated (or local) packets go to the instance's port.
goto_table only moves forward, which is why the tables are numbered in this order.
"""
CLASSIFY, ARP, ROUTE, CHECK, DELIVER = 0, 10, 20, 30, 40

TUNNEL_PORT = 60000          # ofport of every hypervisor bridge's flow-based tunnel port
ROUTER_MAC = '0e:00:00:00:00:01'   # the VPC router answers ARP for each subnet's .1
ALERT_METER = 1              # rate-limits drop samples sent to the controller

# Cookies say who owns a flow, so that a cache entry's flows can be replaced or
# removed together, and drop flows can be counted by reason.
KIND_SHIFT = 48
KIND_MASK = 0xffff << KIND_SHIFT
KIND_BASE, KIND_LOCAL, KIND_CACHE, KIND_DROP, KIND_MISS, KIND_GATEWAY = 1, 2, 3, 4, 5, 6


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
}
REASON_CODE = {name: code for code, name in DROP_REASONS.items()}
ALERTING_REASONS = ('spoofed-source', 'unregistered-source')
