"""Names of everything a lab creates.  Each starts with the lab's 3-character prefix,
so that cleanup touches only what the lab made, and fits Linux's 15-character limit.

The prefix ends in '_', a character topology names cannot contain, so no instance or
host name can ever collide with a fabric switch.
"""
DEFAULT_PREFIX = 'vl_'
UNDERLAY_MTU = 9216          # room for a 9001-byte instance packet plus Geneve/VXLAN
UNDERLAY_PREFIXLEN = 16      # underlay IPs are 100.127.0.0 + host index (topology model)


# datapath ids: hypervisor bridges use the host index (< 2**16), the fabric its own ranges
DPID_UNDERLAY, DPID_TOR, DPID_SPINE = 1 << 32, 2 << 32, 3 << 32


class Names:
    def __init__(self, prefix=DEFAULT_PREFIX):
        if len(prefix) != 3 or not prefix.endswith('_'):
            raise ValueError('a lab prefix is 3 characters ending in "_", like "vl_"')
        self.prefix = prefix

    def hypervisor(self, host):            # host: PhysicalHost
        return self.prefix + host.name

    def tunnel(self, host):
        return f'{self.prefix}tun{host.index}'

    def underlay(self):
        return self.prefix + 'ul0'

    def nic(self, host):                   # host's NIC cable where you capture: the veth's ul0
        return f'{self.prefix}nic{host.index}'   # side, or the capture of the patch (cables.py)

    def nic_patch(self, host):             # ul0 side of the NIC cable when it is a patch port
        return f'{self.prefix}n{host.index}'

    def nic_mirror(self, host):            # ul0's end of the capture veth of a patched NIC cable
        return f'{self.prefix}nicm{host.index}'

    def tor(self, rack_index):
        return f'{self.prefix}tor{rack_index}'

    def tor_port(self, host):              # ToR side of a host's NIC cable
        return f'{self.prefix}tp{host.index}'

    def spine(self, k):
        return f'{self.prefix}spine{k}'

    def uplink(self, rack_index, k):       # ToR side of the ToR-spine cable
        return f'{self.prefix}tor{rack_index}s{k}'

    def downlink(self, k, rack_index):     # spine side
        return f'{self.prefix}s{k}tor{rack_index}'

    def delay_node(self, cable):           # Mininet node of a delay line on a cable
        return self.prefix + 'd' + cable[len(self.prefix):]

    def instance_netns(self, instance):    # an instance's namespace, /run/netns/<prefix><name>
        return self.prefix + instance

    def instance_port(self, index):        # hypervisor side of an instance's cable
        return f'{self.prefix}i{index}'


def nic_mac(host):
    """The physical host's NIC MAC on the underlay."""
    b = host.index.to_bytes(3, 'big')
    return '02:aa:00:{:02x}:{:02x}:{:02x}'.format(*tuple(b))
