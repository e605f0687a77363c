"""What the edge's integration tests share: an HTTP server that answers with the client's address,
started in a lab node and stopped by its PID."""
import contextlib
import subprocess

ECHO_SERVER = '''
import http.server as h
class H(h.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.client_address[0].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = h.HTTPServer(("0.0.0.0", 80), H)
print("ready", flush=True)
server.serve_forever()
'''


@contextlib.contextmanager
def echo_server(node):
    """An HTTP server on port 80 of `node` whose answer is the address it saw the client come from."""
    proc = node.popen(['python3', '-c', ECHO_SERVER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'ready', proc.stderr.read()
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def curl(node, url, *options, timeout=5):
    """(exit status, output) of curl in `node`."""
    out = node.cmd(f'curl -s --max-time {timeout} {" ".join(options)} {url}; echo " rc=$?"')
    body, _, rc = out.rpartition(' rc=')
    return int(rc.strip() or 1), body
