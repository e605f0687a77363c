"""Every limit of the topology format, in one place, with the reason for it.

docs/topology-format.md ("Limits") lists them for users; the fabric (testbed/fabric/) relies on them.
"""
import ipaddress

# --- the file ---
MAX_FILE_BYTES = 4 * 1024 * 1024     # 4 MiB: far above any real topology; reading stays well under a second
MAX_INTEGER_DIGITS = 18              # whole numbers are plain decimal; longer ones are out of every range

# --- names ---
MAX_TOPOLOGY_NAME = 63               # the name becomes part of run-state paths and ids (a DNS label's length)
MAX_HOST_NAME = 12                   # a bridge is a 3-character lab prefix + host name, within Linux's 15
MAX_INSTANCE_NAME = 32

# --- the fabric ---
# ToR port i is the cable of host i (numbered across the fabric) and ToR port 1000 + k the uplink to
# spine k (testbed/fabric/underlay.py, UPLINK_BASE): host 1001 would take spine 1's port. With at most
# 1000 hosts every port number (ul0 port i, ToR ports up to 1000 + spines, spine port r) also stays far
# below OpenFlow's reserved ports (0xff00 and up).
MAX_HOSTS = 1000
# The ToR-spine cable is named <prefix>tor<rack>s<spine> (testbed/fabric/names.py): with up to 1000
# racks (4 digits) a spine number of 4 digits keeps it within Linux's 15 characters.
MAX_SPINES = 9999
UNDERLAY_BASE = ipaddress.IPv4Address("100.127.0.0")  # host n has the underlay IP 100.127.0.0 + n

# --- VPCs ---
MAX_VNI = 2 ** 24 - 1                # Geneve and VXLAN carry 24 bits
VPC_PREFIXES = SUBNET_PREFIXES = (16, 28)  # what AWS allows
MAX_PARTITIONS = 7                   # AWS: at most 7 partitions per AZ
# Each ENI has its own conntrack zone, a 16-bit number, and zone 0 is the default zone of the host.
MAX_ENIS = 2 ** 16 - 1
# Address blocks a VPC may not use: the lab's underlay, and blocks that are not unicast or routable.
RESERVED_BLOCKS = {
    "100.127.0.0/16": "the lab's underlay (physical host addresses)",
    "100.126.0.0/16": "the lab's VPC-service addresses (one per ENI, docs/services.md)",
    "127.0.0.0/8": "loopback",
    "224.0.0.0/4": "multicast",
    "240.0.0.0/4": "reserved (class E)",
    "0.0.0.0/8": "'this network'",
    "169.254.0.0/16": "link-local (instance metadata and DNS)",
    "198.51.100.0/24": "the lab's internet (outside.internet.hosts)",
    "203.0.113.0/24": "the elastic-IP pool",
}

# --- leaving the VPC: the outside, the edge, Hyperplane, services ---
# The lab's internet and public addresses are documentation blocks (RFC 5737), so that no lab ever
# speaks for a real host: internet hosts live in INTERNET_BLOCK, elastic IPs (and the public addresses
# of internet-facing load balancers) come from ELASTIC_IP_POOL, and the two never mix.
INTERNET_BLOCK = "198.51.100.0/24"
INTERNET_LAB_ADDRESSES = 9           # .1 to .9 of INTERNET_BLOCK: the lab's routers on the internet
DEFAULT_INTERNET_HOST = ("internet", "198.51.100.10")
ELASTIC_IP_POOL = "203.0.113.0/24"   # .1 to .254: at most 254 public addresses in a file
# Blocks the internet never routes, with the reason an internet host may not use them.
NOT_INTERNET = {
    "10.0.0.0/8": "a private address (RFC 1918)",
    "172.16.0.0/12": "a private address (RFC 1918)",
    "192.168.0.0/16": "a private address (RFC 1918)",
    "100.64.0.0/10": "shared address space (RFC 6598, carrier-grade NAT)",
    "127.0.0.0/8": "a loopback address",
    "169.254.0.0/16": "a link-local address",
    "224.0.0.0/4": "a multicast address",
    "240.0.0.0/4": "a reserved address (class E)",
    "0.0.0.0/8": "an address of 'this network'",
}
S3_BLOCK = "198.18.0.0/15"           # RFC 2544's benchmarking block: the lab's service networks
S3_DEFAULT_CIDR = "198.18.0.0/24"
S3_PREFIXES = (15, 28)
SITE_PREFIXES = (8, 28)
MAX_SITE_NAME = 28                   # its routers are <site>-vpn and <site>-dx, node names of at most 32
MAX_EDGE_NODES = 8                   # each is a packet loop on a 2-core machine: a few are plenty
MAX_HYPERPLANE_NODES = 100           # seed 002's largest shuffle-sharding table
MAX_VLAN = 4094                      # 802.1Q: 0 and 4095 are reserved
MAX_HOP_LIMIT = 64                   # AWS: instance metadata hop limit 1 to 64
MAX_HEALTH_INTERVAL = 300            # AWS: 5 to 300 s; shorter ones make tests fast
HEALTH_THRESHOLDS = (2, 10)          # AWS: healthy and unhealthy thresholds 2 to 10
MAX_DNS_NAME = 253                   # RFC 1035: 253 characters, labels of at most 63
