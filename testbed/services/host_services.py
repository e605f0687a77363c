"""The VPC services of one physical host: the Amazon DNS server and instance metadata.

    python -m testbed.services.host_services --state STATE.json [--token-key-file KEY]
        [--dns-address A ...] [--metadata-address 169.254.169.254] [--dns-port 53] [--metadata-port 80]
        [--counters-file PATH]

Runs in the host's service namespace (docs/services.md, "How it is wired"). It answers DNS on
169.254.169.253 and on every VPC's base + 2 (or the --dns-address given), metadata on
169.254.169.254:80, for any ENI of the state: the source address of a request is eni_address(ident).
Prints `ready` on stdout once every socket is bound. Reads update messages from stdin, one JSON
object a line, and answers each with one JSON line on stdout: {"ok": true, "said": ...} or
{"ok": false, "error": ...}; {"op": "counters"} answers with the counters. On SIGTERM it prints
its counters as one JSON line on stderr and exits 0. With --counters-file it also writes its
counters there (JSON, replaced whole) every second, for `vpclab counters` in another terminal.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from .addresses import DNS_PORT, METADATA_IP, METADATA_PORT, eni_ident, service_addresses
from .dns import DnsResponder
from .metadata import Metadata
from .servers import DnsServer, MetadataServer
from .state import ServiceState, StateError


class HostServices:
    """Both servers over one state; `update` applies one message (thread-safe with the servers:
    the state's dicts are replaced or set whole, and readers rebuild what they derived)."""

    def __init__(self, state, dns_addresses, metadata_address=METADATA_IP, dns_port=DNS_PORT,
                 metadata_port=METADATA_PORT, key=None, identify=eni_ident):
        self.state = state
        self.dns = DnsResponder(state)
        self.metadata = Metadata(state, key)
        self.lock = threading.Lock()
        self.updates = {"applied": 0, "refused": 0}
        self.servers = [DnsServer(self.dns, a, dns_port, identify) for a in dns_addresses]
        self.servers.append(MetadataServer(self.metadata, metadata_address, metadata_port, identify))

    def start(self):
        for server in self.servers:
            server.start()
        return self

    def stop(self):
        for server in self.servers:
            server.stop()

    def update(self, line: str) -> dict:
        try:
            message = json.loads(line)
            if isinstance(message, dict) and message.get("op") == "counters":
                return {"ok": True, "counters": self.counters()}
            with self.lock:
                said = self.state.apply(message)
        except (json.JSONDecodeError, StateError) as e:
            self.updates["refused"] += 1
            return {"ok": False, "error": str(e)}
        self.updates["applied"] += 1
        return {"ok": True, "said": said}

    def counters(self) -> dict:
        servers = {}
        for server in self.servers:
            for key, value in server.counters.items():
                servers[key] = servers.get(key, 0) + value
        return {"dns": dict(self.dns.counters), "metadata": dict(self.metadata.counters),
                "servers": servers, "updates": dict(self.updates), "enis": len(self.state.enis)}


def read_updates(services, lines, out):
    for line in lines:
        if line.strip():
            print(json.dumps(services.update(line)), file=out, flush=True)


def write_counters(services, path):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(services.counters(), f, sort_keys=True)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state", required=True, help="the services state, JSON (ServiceState.to_json)")
    ap.add_argument("--token-key-file", help="the lab's IMDSv2 token key (shared by all hosts); else random")
    ap.add_argument("--dns-address", action="append", help="default: 169.254.169.253 and each VPC's base + 2")
    ap.add_argument("--metadata-address", default=METADATA_IP)
    ap.add_argument("--dns-port", type=int, default=DNS_PORT)
    ap.add_argument("--metadata-port", type=int, default=METADATA_PORT)
    ap.add_argument("--counters-file", help="write the counters here every second")
    args = ap.parse_args(argv)
    try:
        with open(args.state, encoding="utf-8") as f:
            state = ServiceState.from_json(f.read())
        key = None
        if args.token_key_file:
            with open(args.token_key_file, "rb") as f:
                key = f.read()
    except (OSError, StateError) as e:
        print(f"host_services: {e}", file=sys.stderr)
        return 2
    addresses = args.dns_address or service_addresses(sorted({f.vpc_cidr for f in state.enis.values()}))
    services = HostServices(state, addresses, args.metadata_address, args.dns_port, args.metadata_port, key)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    services.start()
    print("ready", flush=True)
    threading.Thread(target=read_updates, args=(services, sys.stdin, sys.stdout), daemon=True).start()
    try:
        while not stopping.wait(1.0):
            if args.counters_file:
                write_counters(services, args.counters_file)
    except KeyboardInterrupt:
        pass
    services.stop()
    if args.counters_file:
        write_counters(services, args.counters_file)
    print(json.dumps(services.counters(), sort_keys=True), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
