"""A real DHCP client (busybox udhcpc) takes its address from controllers/router/dhcp.py: a veth
pair between two namespaces made here (prefix vls_) and deleted after, the client in one, a tiny
loop answering with dhcp.answer() on an AF_PACKET socket in the other.  Root and busybox only."""
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAC, IP = "0e:12:34:56:78:9a", "10.0.1.10"
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("busybox") or not shutil.which("ip"),
                                reason="needs root, busybox (udhcpc) and iproute2")

SERVER = f"""
import json, select, socket, sys, time
sys.path.insert(0, {ROOT!r})
from controllers.router import dhcp
lease = dhcp.lease_for({MAC!r}, {IP!r}, "10.0.1.0/24", "10.0.0.0/16", "ec2.internal")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
print("ready", flush=True)
answered, deadline = [], time.monotonic() + 30
while time.monotonic() < deadline:
    ready = select.select([s, sys.stdin], [], [], 0.5)[0]
    if sys.stdin in ready:
        break
    if s in ready:
        frame, addr = s.recvfrom(65536)
        reply = None if addr[2] == socket.PACKET_OUTGOING else dhcp.answer(frame, lease)
        request = dhcp.parse(frame)
        if request and addr[2] != socket.PACKET_OUTGOING:
            answered.append([request.type, bool(reply)])
        if reply:
            s.send(reply)
print(json.dumps(answered), flush=True)
"""

SCRIPT = """#!/bin/sh
env | grep -E '^(ip|subnet|router|dns|domain|mtu|lease|serverid|broadcast)=' | sort > "$OUT.$1"
if [ "$1" = bound ]; then ip addr add "$ip/$subnet" dev "$interface" && ip link set "$interface" mtu "$mtu"; fi
"""


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=30, **kw)


@pytest.fixture()
def link(tmp_path):
    tag = str(os.getpid())[-7:]
    server_ns, client_ns = f"vls_ds{tag}", f"vls_dc{tag}"
    server_if, client_if = f"vls_s{tag}", f"vls_c{tag}"
    made = []
    try:
        for ns in (server_ns, client_ns):
            run("ip", "netns", "add", ns)
            made.append(ns)
        run("ip", "link", "add", server_if, "netns", server_ns, "type", "veth", "peer", "name", client_if,
            "netns", client_ns)
        run("ip", "-n", client_ns, "link", "set", client_if, "address", MAC)
        for ns, dev in ((server_ns, server_if), (client_ns, client_if)):
            run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
            run("ip", "-n", ns, "link", "set", dev, "up")
        yield server_ns, server_if, client_ns, client_if
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_udhcpc_takes_the_enis_address(link, tmp_path):
    server_ns, server_if, client_ns, client_if = link
    script = tmp_path / "script"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, sys.executable, "-c", SERVER, server_if],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        run("ip", "netns", "exec", client_ns, "busybox", "udhcpc", "-i", client_if, "-f", "-q", "-n",
            "-t", "5", "-T", "1", "-O", "mtu", "-s", str(script), env=dict(os.environ, OUT=str(tmp_path / "env")))
        server.stdin.close()
        answered = json.loads(server.stdout.readline())
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)
    got = dict(line.split("=", 1) for line in (tmp_path / "env.bound").read_text().split())
    assert got == dict(ip=IP, subnet="255.255.255.0", router="10.0.1.1", dns="10.0.0.2", domain="ec2.internal",
                       mtu="9001", lease="3600", serverid="10.0.1.1", broadcast="10.0.1.255")
    assert [1, True] in answered and [3, True] in answered          # DISCOVER offered, REQUEST acked
    shown = run("ip", "-n", client_ns, "-4", "addr", "show", "dev", client_if).stdout
    assert f"inet {IP}/24" in shown and "mtu 9001" in shown       # the client configured what it got
