"""The IMDSv2 hop limit on real kernels: three namespaces made here (prefix vls_) and deleted after,
a service namespace running host_services, an instance that forwards (with NAT, as a container
host does) for a container behind it.  With hop_limit 1 the instance gets a token and the container
does not (the token's response reaches the instance with TTL 1 and dies there); with hop_limit 2
both do.  The instance's link address stands for the pipeline's rewrite: eni_address(ident).
Root, curl and iptables only."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from testbed.services.addresses import METADATA_IP, eni_address
from testbed.services.state import ServiceState
from testbed.topology import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not all(shutil.which(c) for c in ("ip", "curl", "iptables")),
                                reason="needs root, iproute2, curl and iptables")


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=30)


@pytest.fixture()
def net():
    tag = str(os.getpid())[-7:]
    svc, inst, cont = f"vls_hs{tag}", f"vls_hi{tag}", f"vls_hc{tag}"
    made = []
    try:
        for ns in (svc, inst, cont):
            sh("ip", "netns", "add", ns)
            made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", "svc0", "netns", svc, "type", "veth", "peer", "name", "eth0", "netns", inst)
        sh("ip", "link", "add", "veth0", "netns", inst, "type", "veth", "peer", "name", "eth0", "netns", cont)
        for ns, dev in ((svc, "svc0"), (inst, "eth0"), (inst, "veth0"), (cont, "eth0")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        me = eni_address(1)                                           # web-1 of edge.yaml
        sh("ip", "-n", svc, "addr", "add", f"{METADATA_IP}/32", "dev", "svc0")
        sh("ip", "-n", svc, "route", "add", "100.126.0.0/16", "dev", "svc0")
        sh("ip", "-n", inst, "addr", "add", f"{me}/32", "dev", "eth0")
        sh("ip", "-n", inst, "route", "add", f"{METADATA_IP}/32", "dev", "eth0")
        sh("ip", "-n", inst, "addr", "add", "192.168.50.1/24", "dev", "veth0")
        sh("ip", "netns", "exec", inst, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "netns", "exec", inst, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MASQUERADE")
        sh("ip", "-n", cont, "addr", "add", "192.168.50.2/24", "dev", "eth0")
        sh("ip", "-n", cont, "route", "add", "default", "via", "192.168.50.1")
        yield svc, inst, cont
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def token_from(ns):
    done = sh("ip", "netns", "exec", ns, "curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
              "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60", f"http://{METADATA_IP}/latest/api/token",
              check=False)
    return done.stdout.strip()


def test_the_hop_limit_stops_a_token_from_reaching_behind_the_instance(net, tmp_path):
    svc, inst, cont = net
    state = ServiceState.from_topology(load(os.path.join(ROOT, "topologies", "edge.yaml")))
    web = state.by_instance("web-1")
    assert (web.ident, web.hop_limit) == (1, 1)
    path = tmp_path / "state.json"
    path.write_text(state.to_json())
    proc = subprocess.Popen(["ip", "netns", "exec", svc, sys.executable, "-m", "testbed.services.host_services",
                             "--state", str(path), "--dns-address", METADATA_IP, "--dns-port", "53"],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert token_from(inst) == "200"
        assert token_from(cont) == "000"                          # nothing came back: curl timed out
        record = dict(state.to_dict()["enis"][0], hop_limit=2)
        proc.stdin.write(json.dumps({"op": "eni", "eni": record}) + "\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["ok"] is True
        assert token_from(cont) == "200"
        assert token_from(inst) == "200"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    counters = json.loads(err.strip().splitlines()[-1])
    assert counters["metadata"]["tokens"] == 4                    # the server answered all four: the TTL did it
