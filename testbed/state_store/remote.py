"""The embedded store for other processes: the lab serves its `EmbeddedStore` on a Unix socket, and
the Hyperplane nodes' packet loops (other processes, in Mininet hosts' network namespaces, which a
filesystem socket crosses) use it through `RemoteStore`, with the same interface.

One JSON line per call, `{"op": NAME, "args": [...]}`, one JSON line back, `{"ok": RESULT}` or
`{"error": TEXT}`; each client connection has its own server thread, the store's lock does the rest.
"""
import json
import os
import socket
import socketserver
import threading

from testbed.state_store.base import Store, StoreError

OPS = ('join', 'keepalive', 'leave', 'members', 'claim_block', 'release_block', 'transfer_block', 'blocks')


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            try:
                call = json.loads(line)
                if call['op'] not in OPS:
                    raise StoreError(f'no store operation {call["op"]!r}')
                result = getattr(self.server.store, call['op'])(*call['args'])
                if call['op'] == 'blocks':
                    result = {str(k): v for k, v in result.items()}
                answer = {'ok': result}
            except Exception as exc:        # the caller gets it as a StoreError, the server goes on
                answer = {'error': f'{type(exc).__name__}: {exc}'}
            self.wfile.write(json.dumps(answer).encode() + b'\n')


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class StoreServer:
    """Serves `store` on the Unix socket `path` (mode 0600) from a thread, until `stop()`."""

    def __init__(self, store, path):
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self.server = _Server(path, _Handler)
        os.chmod(path, 0o600)
        self.server.store = store
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
        if os.path.exists(self.path):
            os.unlink(self.path)


class RemoteStore(Store):
    def __init__(self, path, timeout=5):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise StoreError(f'no state store serves {path} ({exc.strerror})') from None
        self.file = self.sock.makefile('rwb')
        self.lock = threading.Lock()

    def _call(self, op, *args):
        with self.lock:
            self.file.write(json.dumps({'op': op, 'args': list(args)}).encode() + b'\n')
            self.file.flush()
            answer = json.loads(self.file.readline() or b'{"error": "the store server went away"}')
        if 'error' in answer:
            raise StoreError(answer['error'])
        return answer['ok']

    def join(self, node, ttl):
        return self._call('join', node, ttl)

    def keepalive(self, node):
        return self._call('keepalive', node)

    def leave(self, node):
        return self._call('leave', node)

    def members(self):
        return self._call('members')

    def claim_block(self, gateway, node, count, scope='*'):
        return self._call('claim_block', gateway, node, count, scope)

    def release_block(self, gateway, index, node, scope='*'):
        return self._call('release_block', gateway, index, node, scope)

    def transfer_block(self, gateway, index, from_node, to_node, scope='*'):
        return self._call('transfer_block', gateway, index, from_node, to_node, scope)

    def blocks(self, gateway, scope='*'):
        return {int(k): v for k, v in self._call('blocks', gateway, scope).items()}

    def close(self):
        self.file.close()
        self.sock.close()
