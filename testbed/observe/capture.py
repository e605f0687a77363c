"""Packet captures on lab interfaces (tcpdump to a pcap, read back with scapy)."""
import os
import subprocess
import tempfile
import time


class Capture:
    """tcpdump on `interface` (root namespace, or inside `node` when given).

        with Capture('vl_nic2', 'udp port 6081') as cap:
            ...send...
        packets = cap.packets
    """

    def __init__(self, interface, bpf='', node=None, snaplen=256):
        self.interface, self.bpf, self.node, self.snaplen = interface, bpf, node, snaplen
        self.packets = []
        self.proc = None

    def __enter__(self):
        fd, self.path = tempfile.mkstemp(suffix='.pcap', prefix='vpclab-')
        os.close(fd)
        # immediate mode: otherwise packets wait in the kernel ring for up to a second
        cmd = ['tcpdump', '--immediate-mode', '-U', '-nn', '-s', str(self.snaplen), '-i', self.interface,
               '-w', self.path] + ([self.bpf] if self.bpf else [])
        popen = self.node.popen if self.node is not None else subprocess.Popen
        self.proc = popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # tcpdump says "listening on ..." once the capture is live: wait for that
        line = self.proc.stderr.readline().decode()
        if 'listening on' not in line:
            self.proc.kill()
            self.proc.wait()
            os.unlink(self.path)
            raise RuntimeError(f'tcpdump on {self.interface} did not start: {line}')
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self, settle_s=0.2):
        if self.proc is None:
            return self.packets
        # packets already on the wire need a moment to reach the capture buffer
        time.sleep(settle_s)
        self.proc.terminate()
        self.proc.wait()
        self.proc.stderr.close()
        self.proc = None
        rdpcap = load_scapy_layers()
        self.packets = list(rdpcap(self.path)) if os.path.getsize(self.path) else []
        os.unlink(self.path)
        return self.packets


def load_scapy_layers():
    """scapy decodes a pcap only with the layers it should know loaded; returns rdpcap."""
    import scapy.contrib.geneve  # noqa: F401  (binds UDP 6081)
    import scapy.layers.inet  # noqa: F401
    import scapy.layers.l2  # noqa: F401  (Ethernet, ARP)
    import scapy.layers.vxlan  # noqa: F401  (binds UDP 4789)
    from scapy.utils import rdpcap
    return rdpcap


def geneve_or_vxlan(pkt):
    from scapy.contrib.geneve import GENEVE
    from scapy.layers.vxlan import VXLAN
    for layer in (GENEVE, VXLAN):
        if pkt.haslayer(layer):
            return pkt[layer]
    return None


def tunnel_summary(pkt):
    """(outer src, outer dst, VNI, inner src, inner dst) of an encapsulated packet."""
    from scapy.layers.inet import IP
    tun = geneve_or_vxlan(pkt)
    if tun is None:
        return None
    inner = tun.payload
    return (pkt[IP].src, pkt[IP].dst, tun.vni,
            inner[IP].src if inner.haslayer(IP) else None,
            inner[IP].dst if inner.haslayer(IP) else None)
