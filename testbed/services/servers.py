"""Thin servers on kernel sockets around the pure responders: DNS over UDP and TCP, metadata over
HTTP.  Each tells the asking ENI by the source address of the request (`identify`, eni_ident by
default: the pipeline rewrote the instance's address to eni_address(ident)).

Instances are not trusted: every connection has a 5 s timeout, at most MAX_PER_ENI of one ENI's and
MAX_CONNECTIONS in all are served at once (more are closed at once and counted), so that one
instance holding connections open does not keep the host's other instances from their answers; a
DNS message over TCP is at most 64 KiB.
"""
from __future__ import annotations

import socket
import socketserver
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .addresses import eni_ident

TIMEOUT_S = 5.0
MAX_CONNECTIONS = 512
MAX_PER_ENI = 8             # per source address: the pipeline gave each ENI its own
MAX_BODY = 64 * 1024


class _Bounded:
    """Mixin for socketserver servers: at most MAX_PER_ENI connections of one source address and
    MAX_CONNECTIONS in all handled at once."""
    daemon_threads = True
    allow_reuse_address = True

    def bound(self, counters):
        self.counters, self.held, self.held_lock = counters, Counter(), threading.Lock()

    def verify_request(self, request, client_address):
        with self.held_lock:
            if self.held[client_address[0]] >= MAX_PER_ENI or sum(self.held.values()) >= MAX_CONNECTIONS:
                self.counters["connections_refused"] += 1
                return False
            self.held[client_address[0]] += 1
        return True

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.held_lock:
                self.held[client_address[0]] -= 1
                if not self.held[client_address[0]]:
                    del self.held[client_address[0]]


class _TcpServer(_Bounded, socketserver.ThreadingTCPServer):
    pass


class _HttpServer(_Bounded, ThreadingHTTPServer):
    pass


class DnsServer:
    """The DNS responder on one address: a UDP loop and a TCP server, each in a thread."""

    def __init__(self, responder, address, port=53, identify=eni_ident):
        self.responder, self.identify = responder, identify
        self.counters = Counter()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((address, port))
        self.udp.settimeout(0.5)
        self.address = self.udp.getsockname()
        self.tcp = _TcpServer((address, self.address[1]), self._tcp_handler(), bind_and_activate=True)
        self.tcp.bound(self.counters)
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._udp_loop, daemon=True),
                        threading.Thread(target=self.tcp.serve_forever, args=(0.5,), daemon=True)]

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.tcp.shutdown()
        for thread in self.threads:
            thread.join()
        self.tcp.server_close()
        self.udp.close()

    def _udp_loop(self):
        while not self.stopping.is_set():
            try:
                data, peer = self.udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                break
            reply = self.responder.answer(self.identify(peer[0]), data, udp=True)
            if reply is not None:
                try:
                    self.udp.sendto(reply, peer)
                except OSError:
                    self.counters["send_errors"] += 1

    def _tcp_handler(self):
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(TIMEOUT_S)
                ident = server.identify(self.client_address[0])
                try:
                    while True:
                        head = _read(self.request, 2)
                        if head is None:
                            return
                        data = _read(self.request, struct.unpack("!H", head)[0])
                        if data is None:
                            return
                        reply = server.responder.answer(ident, data, udp=False)
                        if reply is None:
                            return
                        self.request.sendall(struct.pack("!H", len(reply)) + reply)
                except OSError:
                    server.counters["tcp_errors"] += 1

        return Handler


def _read(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class MetadataServer:
    """The metadata handler over HTTP/1.0 on one address, in a thread; the TTL of a token's
    response is the instance's hop limit (set on the connection's socket before it is sent)."""

    def __init__(self, metadata, address, port=80, identify=eni_ident, clock=time.monotonic):
        self.metadata, self.identify, self.clock = metadata, identify, clock
        self.counters = Counter()
        self.http = _HttpServer((address, port), self._handler())
        self.http.bound(self.counters)
        self.address = self.http.server_address
        self.thread = threading.Thread(target=self.http.serve_forever, args=(0.5,), daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.http.shutdown()
        self.thread.join()
        self.http.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = TIMEOUT_S

            def version_string(self):
                return "EC2ws"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 <= length <= MAX_BODY:
                    self.send_error(413)
                    return
                self.rfile.read(length)
                md = server.metadata
                eni = md.state.eni(server.identify(self.client_address[0]))
                status, headers, body = md.handle(eni, self.command, self.path, self.headers.items(), server.clock())
                ttl = md.ip_ttl(eni, self.command, self.path) if status == 200 else None
                if ttl is not None:
                    self.connection.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _serve

            def log_message(self, *args):
                pass

        return Handler
