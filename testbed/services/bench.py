"""A micro-benchmark, not a test: answers per second of the DNS and metadata responders against a
minimal UDP and HTTP responder, in one run over loopback (127.0.0.1 only).

    python -m testbed.services.bench [--seconds 1.5] [--topology topologies/edge.yaml]

One client asks one question at a time (a new TCP connection per HTTP request, as curl does), so
the rates are round trips; on a shared machine only the ratios of one run mean something.
"""
from __future__ import annotations

import argparse
import json
import socket
import threading
import time

import dns.message

from testbed.topology import load

from .host_services import HostServices
from .state import ServiceState

LOOPBACK = "127.0.0.1"
CANNED_HTTP = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\n10.0.1.10"


def minimal_udp():
    """Answers every datagram with itself, QR bit set: the least a UDP responder can do."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))

    def serve():
        while True:
            data, peer = sock.recvfrom(65535)
            sock.sendto(data[:2] + bytes([data[2] | 0x80]) + data[3:], peer)
    threading.Thread(target=serve, daemon=True).start()
    return sock.getsockname()


def minimal_http():
    """Reads one request and answers a canned response: the least an HTTP responder can do."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LOOPBACK, 0))
    listener.listen(64)

    def serve():
        while True:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65535)
                conn.sendall(CANNED_HTTP)
    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()


def rate(ask, seconds):
    ask()                                             # warm up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        ask()
        n += 1
    return n / (time.perf_counter() - start)


def udp_asker(address, query):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sock.connect(address)

    def ask():
        sock.send(query)
        sock.recv(65535)
    return ask


def http_asker(address, request):
    def ask():
        with socket.create_connection(address, timeout=2) as sock:
            sock.sendall(request)
            while sock.recv(65535):
                pass
    return ask


def run(topology_path, seconds):
    state = ServiceState.from_topology(load(topology_path))
    web = state.by_instance("web-1")
    services = HostServices(state, [LOOPBACK], LOOPBACK, dns_port=0, metadata_port=0,
                            identify=lambda address: web.ident).start()
    try:
        token = services.metadata.token(web.ident, time.monotonic() + 3600)
        query = dns.message.make_query(f"ip-{web.ip.replace('.', '-')}.ec2.internal", "A").to_wire()
        get = (f"GET /latest/meta-data/local-ipv4 HTTP/1.0\r\nHost: 169.254.169.254\r\n"
               f"X-aws-ec2-metadata-token: {token}\r\n\r\n").encode()
        rates = {"dns": rate(udp_asker(services.servers[0].address, query), seconds),
                 "minimal_udp": rate(udp_asker(minimal_udp(), query), seconds),
                 "metadata": rate(http_asker(services.servers[-1].address, get), seconds),
                 "minimal_http": rate(http_asker(minimal_http(), get), seconds)}
    finally:
        services.stop()
    return dict({k: round(v) for k, v in rates.items()},
                dns_over_minimal=round(rates["dns"] / rates["minimal_udp"], 3),
                metadata_over_minimal=round(rates["metadata"] / rates["minimal_http"], 3))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.5, help="per responder")
    ap.add_argument("--topology", default="topologies/edge.yaml")
    args = ap.parse_args(argv)
    print(json.dumps(run(args.topology, args.seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
