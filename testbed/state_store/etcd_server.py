"""Debian's etcd-server on 127.0.0.1 for a lab or a test: a temporary data directory, free ports,
stopped by its PID (nothing else is ever signalled).

    with EtcdServer() as etcd:            # or etcd = EtcdServer().start() ... etcd.stop()
        store = open_store('etcd', endpoint=etcd.endpoint)

    python -m testbed.state_store.etcd_server     # runs one in the foreground until Ctrl-C
"""
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ETCD = 'etcd'
MISSING = 'etcd is not installed (Debian: apt-get install etcd-server; scripts/setup.sh does it)'


def available():
    return shutil.which(ETCD) is not None


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class EtcdServer:
    def __init__(self, client_port=None, peer_port=None, name='vpclab'):
        self.client_port = client_port or _free_port()
        self.peer_port = peer_port or _free_port()
        self.name = name
        self.proc = self.data_dir = None

    @property
    def endpoint(self):
        return f'127.0.0.1:{self.client_port}'

    def command(self):
        client, peer = f'http://127.0.0.1:{self.client_port}', f'http://127.0.0.1:{self.peer_port}'
        # short heartbeat and election: a one-member cluster is leader at once, and leases as short
        # as a second are honoured (etcd's least TTL is 1.5 election timeouts)
        return [ETCD, '--name', self.name, '--data-dir', self.data_dir,
                '--listen-client-urls', client, '--advertise-client-urls', client,
                '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
                '--initial-cluster', f'{self.name}={peer}', '--heartbeat-interval', '50',
                '--election-timeout', '500', '--log-level', 'error']

    def start(self, timeout=15):
        if not available():
            raise RuntimeError(MISSING)
        self.data_dir = tempfile.mkdtemp(prefix='vpclab-etcd-')
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors='replace').strip().splitlines()[-1:]
                self.stop()
                raise RuntimeError(f'etcd exited at start: {" ".join(err)}')
            if self.healthy():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f'etcd did not answer on {self.endpoint} within {timeout} s')

    def healthy(self):
        try:
            with urllib.request.urlopen(f'http://{self.endpoint}/health', timeout=1) as r:
                return json.load(r).get('health') == 'true'
        except (OSError, ValueError):
            return False

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stderr.close()
            self.proc = None
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == '__main__':
    with EtcdServer(int(sys.argv[1]) if len(sys.argv) > 1 else 2379) as server:
        print(f'etcd on {server.endpoint}, pid {server.proc.pid}; Ctrl-C stops it', flush=True)
        try:
            server.proc.wait()
        except KeyboardInterrupt:
            pass
