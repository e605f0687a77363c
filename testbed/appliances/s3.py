"""The S3 service host's object store: HTTP GET and PUT of objects, telling every client what it saw.

    python -m testbed.appliances.s3 --listen 0.0.0.0:80 [--endpoint 198.18.0.201=vpce-1 ...] [--store DIR]

Every answer carries `x-vpclab-source-ip` (the client's address as this host sees it: the private
address through a gateway endpoint, the elastic IP through the internet gateway) and
`x-vpclab-endpoint`: the gateway endpoint whose alias address the connection arrived on
(`--endpoint ALIAS=ID`, see blackfoot.py), or `-` on any other address.  Objects live in memory, or
with `--store DIR` in files of that directory (the lab's run directory), one file per key.
Prints `ready ADDRESS:PORT ...` when listening; stops on SIGTERM, printing its counters as one JSON
line on stderr.
"""
import argparse
import hashlib
import json
import os
import signal
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit

MAX_OBJECT = 64 * 1024 * 1024       # refuse larger PUTs rather than hold them in memory
NO_ENDPOINT = '-'


class MemoryStore:
    def __init__(self):
        self.objects, self.lock = {}, threading.Lock()

    def get(self, key):
        with self.lock:
            return self.objects.get(key)

    def put(self, key, data):
        with self.lock:
            self.objects[key] = data


class DirectoryStore:
    """One file per key; the key is percent-encoded into the file name, so no key escapes `root`."""

    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)

    def _path(self, key):
        return os.path.join(self.root, quote(key, safe=''))

    def get(self, key):
        try:
            with open(self._path(key), 'rb') as f:
                return f.read()
        except FileNotFoundError:
            return None

    def put(self, key, data):
        tmp = f'{self._path(key)}.{threading.get_ident()}.tmp'
        with open(tmp, 'wb') as f:
            f.write(data)
        os.replace(tmp, self._path(key))        # a reader never sees half an object


class Handler(BaseHTTPRequestHandler):
    server_version = 'vpclab-s3/1'
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):           # quiet: the counters say what happened
        pass

    def _answer(self, status, body=b'', extra=()):
        server = self.server
        local = self.connection.getsockname()[0]
        server.counters[f'{self.command} {status}'] += 1
        self.send_response(status)
        self.send_header('x-vpclab-source-ip', self.client_address[0])
        self.send_header('x-vpclab-endpoint', server.endpoints.get(local, NO_ENDPOINT))
        self.send_header('Content-Length', str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _key(self):
        key = urlsplit(self.path).path.lstrip('/')
        return key or None

    def do_GET(self):
        key = self._key()
        if key is None:
            return self._answer(200, b'vpclab s3\n', [('Content-Type', 'text/plain')])
        data = self.server.store.get(key)
        if data is None:
            return self._answer(404, b'NoSuchKey\n', [('Content-Type', 'text/plain')])
        return self._answer(200, data, [('ETag', f'"{hashlib.md5(data).hexdigest()}"'),
                                        ('Content-Type', 'application/octet-stream')])

    do_HEAD = do_GET

    def do_PUT(self):
        key = self._key()
        try:
            length = int(self.headers.get('Content-Length', ''))
        except ValueError:
            length = -1
        if key is None or not 0 <= length <= MAX_OBJECT:
            self.close_connection = True        # the body, if any, was not read
            return self._answer(400 if key is None or length < 0 else 413, b'BadRequest\n')
        data = self.rfile.read(length)
        self.server.store.put(key, data)
        return self._answer(200, b'', [('ETag', f'"{hashlib.md5(data).hexdigest()}"')])


class S3Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, store, endpoints, counters):
        self.store, self.endpoints, self.counters = store, dict(endpoints), counters
        super().__init__(address, Handler)


def start(listens, endpoints=None, store=None):
    """S3 servers on each (address, port), serving in threads; `endpoints`: {alias address: id}."""
    store = store if store is not None else MemoryStore()
    counters = Counter()
    servers = [S3Server(addr, store, endpoints or {}, counters) for addr in listens]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return servers


def stop(servers):
    for server in servers:
        server.shutdown()
        server.server_close()


def address(text):
    host, _, port = text.rpartition(':')
    return host, int(port)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--listen', action='append', type=address, required=True, help='ADDRESS:PORT (repeatable)')
    ap.add_argument('--endpoint', action='append', default=[], help='ALIAS=ENDPOINT_ID (repeatable)')
    ap.add_argument('--store', help='keep objects in files of this directory (default: in memory)')
    args = ap.parse_args(argv)
    endpoints = dict(e.split('=', 1) for e in args.endpoint)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    servers = start(args.listen, endpoints, DirectoryStore(args.store) if args.store else None)
    print('ready ' + ' '.join(f'{h}:{p}' for h, p in (s.server_address[:2] for s in servers)), flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    stop(servers)
    print(json.dumps(dict(servers[0].counters)), file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
