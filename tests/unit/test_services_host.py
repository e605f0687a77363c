"""The servers around the responders, over loopback (127.0.0.1 only, no root): DNS over UDP and
TCP, metadata over HTTP, update messages and counters; and the process with its JSON protocol."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys

import dns.message
import dns.query
import dns.rcode
import pytest

from testbed.services import servers
from testbed.services.host_services import HostServices
from testbed.services.state import ServiceState
from testbed.topology import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOOPBACK = "127.0.0.1"


@pytest.fixture()
def state():
    return ServiceState.from_topology(load(os.path.join(ROOT, "topologies", "edge.yaml")))


@pytest.fixture()
def services(state):
    web = state.by_instance("web-1").ident          # every request on loopback comes from web-1
    running = HostServices(state, [LOOPBACK], LOOPBACK, dns_port=0, metadata_port=0, key=b"k" * 32,
                           identify=lambda address: web).start()
    yield running
    running.stop()


def request(services, method, path, headers=None):
    conn = http.client.HTTPConnection(*services.servers[-1].address, timeout=5)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read().decode()


def test_dns_over_udp_and_tcp(services):
    host, port = services.servers[0].address
    query = dns.message.make_query("db.corp.internal", "A")
    db = services.state.by_instance("db-1").ip
    for ask in (dns.query.udp, dns.query.tcp):
        response = ask(query, host, port=port, timeout=5)
        assert response.rcode() == dns.rcode.NOERROR and response.answer[0][0].to_text() == db
    assert services.counters()["dns"]["noerror"] == 2


def test_metadata_over_http(services):
    assert request(services, "GET", "/latest/meta-data/instance-id")[0] == 401       # web-1: tokens required
    status, headers, token = request(services, "PUT", "/latest/api/token",
                                  {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    assert status == 200 and headers["X-aws-ec2-metadata-token-ttl-seconds"] == "60"
    status, headers, body = request(services, "GET", "/latest/meta-data/local-ipv4",
                                    {"X-aws-ec2-metadata-token": token})
    assert (status, body, headers["Server"]) == (200, "10.0.1.10", "EC2ws")
    counters = services.counters()["metadata"]
    assert counters["tokens"] == 1 and counters["v1_refused"] == 1 and counters["v2"] == 1


def test_updates_change_the_answers(services):
    said = services.update(json.dumps({"op": "security_groups", "instance": "web-1", "groups": ["web"]}))
    assert said["ok"] is True
    assert services.update("not json")["ok"] is False
    assert services.update('{"op": "reboot"}')["ok"] is False
    assert services.update('{"op": "counters"}')["counters"]["updates"] == {"applied": 1, "refused": 2}
    token = request(services, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "5"})[2]
    assert request(services, "GET", "/latest/meta-data/security-groups",
                {"X-aws-ec2-metadata-token": token})[2] == "web"


def test_the_process(state, tmp_path):
    path = tmp_path / "state.json"
    path.write_text(state.to_json())
    proc = subprocess.Popen([sys.executable, "-m", "testbed.services.host_services", "--state", str(path),
                             "--dns-address", LOOPBACK, "--dns-port", "0", "--metadata-address", LOOPBACK,
                             "--metadata-port", "0"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write('{"op": "migrated", "instance": "web-1", "host": "r1-h2"}\n{"op": "counters"}\n')
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline()) == {"ok": True, "said": "web-1 runs on r1-h2"}
        assert json.loads(proc.stdout.readline())["counters"]["enis"] == len(state.enis)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert json.loads(err.strip().splitlines()[-1])["updates"]["applied"] == 1


def test_a_bad_state_file_is_refused(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{}")
    done = subprocess.run([sys.executable, "-m", "testbed.services.host_services", "--state", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "format" in done.stderr


def test_one_instance_holding_connections_open_does_not_keep_another_from_its_answers(state, monkeypatch):
    """A tenant's idle connections to 169.254.169.254 (and DNS over TCP) are bounded per ENI: the
    host's other ENIs are still answered.  Loopback's 127.0.0.2 plays the holder's service address;
    the limits are made small so that the holder reaches the total within the 5 s timeout."""
    monkeypatch.setattr(servers, "MAX_CONNECTIONS", 16)
    monkeypatch.setattr(servers, "MAX_PER_ENI", 4)
    web, holder = state.by_instance("web-1").ident, state.by_instance("db-1").ident
    running = HostServices(state, [LOOPBACK], LOOPBACK, dns_port=0, metadata_port=0, key=b"k" * 32,
                           identify=lambda address: web if address == LOOPBACK else holder).start()
    held = []
    try:
        # idle until the 5 s timeout; accepted in order, so all are counted before web-1's are
        held = [socket.create_connection(server.address, timeout=5, source_address=("127.0.0.2", 0))
                for server in running.servers for _ in range(servers.MAX_CONNECTIONS)]
        assert request(running, "GET", "/latest/meta-data/instance-id")[0] == 401     # answered: tokens required
        host, port = running.servers[0].address
        response = dns.query.tcp(dns.message.make_query("db.corp.internal", "A"), host, port=port, timeout=5)
        assert response.rcode() == dns.rcode.NOERROR
        assert running.counters()["servers"]["connections_refused"] == 2 * (16 - 4)
    finally:
        for s in held:
            s.close()
        running.stop()
