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
    "127.0.0.0/8": "loopback",
    "224.0.0.0/4": "multicast",
    "240.0.0.0/4": "reserved (class E)",
    "0.0.0.0/8": "'this network'",
    "169.254.0.0/16": "link-local (instance metadata and DNS)",
}
