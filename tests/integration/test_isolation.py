"""The lab host's own network stack never answers an instance, and nothing a lab does
leaves the machine (issue 14 item 1; testbed/fabric/isolation.py).

An instance sends, on its own interface, everything it could aim at the root namespace:
ARP for the underlay address and for the host's real addresses, ICMP, a TCP SYN and UDP to
those addresses (to the root-side cable's MAC and to broadcast), a datagram from 0.0.0.0 to
255.255.255.255, multicast, IPv6 neighbour discovery, ping to ff02::1 and to the cable's
link-local address.  Nothing comes back from the root namespace, the host's sockets receive
nothing, and a capture on the host's own interfaces sees none of the lab's addresses."""
import json
import os
import socket
import subprocess
import sys

import pytest
from conftest import topology

from testbed.fabric import isolation
from testbed.lab import Lab
from testbed.observe.capture import Capture

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'isolation_probe.py')
UNDERLAY = '100.127.0.1'


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('default.yaml')) as lab:
        yield lab


def host_interfaces(prefix):
    """This machine's own interfaces that are up (not the lab's, not loopback)."""
    out = []
    for name in sorted(os.listdir('/sys/class/net')):
        if name.startswith(prefix) or name == 'lo':
            continue
        with open(f'/sys/class/net/{name}/operstate') as f:
            if f.read().strip() != 'down':
                out.append(name)
    return out


def host_addresses(prefix):
    lines = subprocess.run(['ip', '-4', '-o', 'addr', 'show'], capture_output=True, text=True).stdout
    return sorted({line.split()[3].split('/')[0] for line in lines.splitlines()
                   if not line.split()[1].startswith(prefix) and line.split()[1] != 'lo'})


def lab_interfaces(prefix):
    return [n for n in os.listdir('/sys/class/net') if n.startswith(prefix)]


def test_every_lab_interface_in_the_root_namespace_is_sealed_and_guarded(lab):
    for host in lab.topology.hosts:        # NIC captures are made on demand: sealed too
        lab.nic(host)
    names = lab_interfaces(lab.names.prefix)
    assert len(names) > 20
    assert isolation.unsealed(names) == {}
    for tool in isolation.TOOLS:
        r = subprocess.run([tool, '-w', '5', '-t', 'raw', '-C', 'PREROUTING', *isolation.rule(lab.names.prefix)])
        assert r.returncode == 0, f'the {tool} guard of the lab is missing'


def test_nothing_an_instance_sends_reaches_the_host_stack(lab):
    prefix = lab.names.prefix
    inst = lab.topology.instance('web-1')
    veth = lab.network.port_name(inst.name)
    with open(f'/sys/class/net/{veth}/address') as f:
        veth_mac = f.read().strip()
    addresses = host_addresses(prefix)
    assert addresses, 'this machine has no IPv4 address of its own to aim at'
    tcp, udp = socket.socket(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with tcp, udp:
        tcp.bind(('0.0.0.0', 0))
        tcp.listen(8)
        udp.bind(('0.0.0.0', 0))
        tcp.setblocking(False)
        udp.setblocking(False)
        nets = [v.cidr for v in lab.topology.vpcs.values()] + ['100.127.0.0/16']
        lab_traffic = ' or '.join(f'net {n}' for n in nets) + f' or ether host {veth_mac}'
        outside = [Capture(i, lab_traffic) for i in host_interfaces(prefix)]
        assert outside, 'no interface of this machine to watch'
        root_replies = Capture(veth, f'ether src {veth_mac}')
        for cap in [*outside, root_replies]:
            cap.__enter__()
        try:
            out = lab.node(inst.name).cmd(f'{sys.executable} {PROBE} {veth_mac} {tcp.getsockname()[1]} '
                                          f'{udp.getsockname()[1]} {UNDERLAY} {" ".join(addresses)}')
        finally:
            seen = {cap.interface: cap.stop() for cap in [*outside, root_replies]}
        result = json.loads(out.strip().splitlines()[-1])
        assert result['sent'] > 30, out
        leaks = {name: [p.summary() for p in seen[name]] for name in host_interfaces(prefix) if seen[name]}
        assert leaks == {}, 'lab traffic on this machine\'s own interfaces'
        assert result['heard'] == [], 'the root namespace answered the instance'
        assert seen[veth] == [], 'the root namespace sent on the instance cable'
        with pytest.raises(BlockingIOError):
            tcp.accept()
        with pytest.raises(BlockingIOError):
            udp.recvfrom(100)


def test_the_live_api_refuses_a_post_without_the_token(lab):
    """What a web page or another local user could send (issue 14 item 5)."""
    import urllib.error
    import urllib.request
    base = f'http://127.0.0.1:{lab.state.data["api_port"]}'
    body = json.dumps(dict(instance='web-1')).encode()
    for headers, status in (({'Content-Type': 'application/x-www-form-urlencoded'}, 403),
                            ({'Content-Type': 'application/json', 'X-Vpclab-Token': 'guess'}, 403),
                            ({'Content-Type': 'text/plain', 'X-Vpclab-Token': lab.state.api_token()}, 415)):
        req = urllib.request.Request(base + '/terminate', data=body, headers=headers)
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=5)
        assert exc.value.code == status and 'error' in json.load(exc.value)
    assert any(e['instance'] == 'web-1' for e in lab.api.mappings())      # still there
    token = lab.state.token_path
    assert os.stat(token).st_mode & 0o777 == 0o600
