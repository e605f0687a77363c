"""What the Hyperplane integration tests share: a TCP server in a lab node that answers every line
with its name and the client's address and port as it saw them, and a client that keeps one
connection open across steps; both stopped by their PIDs."""
import contextlib
import select
import subprocess

SERVER = '''
import socket, socketserver, sys
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(("%s %s:%d %s" % (sys.argv[1], *self.client_address, line.decode())).encode())
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
server = S(("0.0.0.0", int(sys.argv[2])), H)
print("ready", flush=True)
server.serve_forever()
'''

CLIENT = '''
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
f = s.makefile("rw")
print("ready", flush=True)
for line in sys.stdin:
    f.write(line); f.flush()
    print(f.readline().strip(), flush=True)
'''


@contextlib.contextmanager
def _process(node, argv):
    proc = node.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'ready', proc.stderr.read()
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=5)


def server(node, name, port):
    """A line server on `port` of `node`: 'NAME CLIENT_IP:CLIENT_PORT LINE' for every line."""
    return _process(node, ['python3', '-c', SERVER, name, str(port)])


def client(node, address, port):
    """One TCP connection from `node`; `ask(proc, line)` sends a line and reads the answer."""
    return _process(node, ['python3', '-c', CLIENT, address, str(port)])


def ask(proc, line, timeout=20):
    proc.stdin.write(line + '\n')
    proc.stdin.flush()
    if not select.select([proc.stdout], [], [], timeout)[0]:
        raise AssertionError(f'no answer to {line!r} within {timeout} s')
    answer = proc.stdout.readline().split()
    assert answer, f'the connection closed: {proc.stderr.read() if proc.poll() is not None else ""}'
    return answer                       # [server name, client ip:port, line]


def once(node, address, port, line='x', timeout=5):
    """One connection, one line: the server's answer words, or None if it did not answer."""
    script = (f'import socket; s = socket.create_connection(("{address}", {port}), timeout={timeout}); '
              f's.sendall(b"{line}\\n"); print(s.makefile().readline().strip())')
    out = node.cmd(f"python3 -c '{script}' 2>/dev/null")
    words = out.split()
    return words if len(words) == 3 else None
