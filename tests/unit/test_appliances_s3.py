"""The S3 host's object store over loopback (127.0.0.1 only)."""
import hashlib
import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.appliances import processes, s3

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=['memory', 'directory'])
def server(request, tmp_path):
    store = s3.DirectoryStore(str(tmp_path / 'objects')) if request.param == 'directory' else None
    servers = s3.start([('127.0.0.1', 0)], {'127.0.0.1': 'vpce-0123'}, store)
    yield servers[0]
    s3.stop(servers)


def call(server, method, path, body=None):
    conn = http.client.HTTPConnection('127.0.0.1', server.server_address[1], timeout=10)
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_put_then_get_with_what_the_server_saw(server):
    status, headers, _ = call(server, 'PUT', '/bucket/dir/key.txt', b'hello s3')
    assert status == 200 and headers['x-vpclab-source-ip'] == '127.0.0.1'
    status, headers, body = call(server, 'GET', '/bucket/dir/key.txt')
    assert (status, body, headers['x-vpclab-endpoint']) == (200, b'hello s3', 'vpce-0123')
    assert headers['etag'] == f'"{hashlib.md5(b"hello s3").hexdigest()}"'
    status, headers, body = call(server, 'HEAD', '/bucket/dir/key.txt')
    assert (status, body, headers['content-length']) == (200, b'', '8')


def test_missing_key_root_and_bad_puts(server):
    status, headers, _ = call(server, 'GET', '/bucket/nothing')
    assert status == 404 and headers['x-vpclab-source-ip'] == '127.0.0.1'
    assert call(server, 'GET', '/')[0] == 200
    assert call(server, 'PUT', '/', b'x')[0] == 400
    assert server.counters['GET 404'] == 1


def test_without_an_endpoint_alias_the_endpoint_is_a_dash():
    servers = s3.start([('127.0.0.1', 0)])
    try:
        assert call(servers[0], 'GET', '/')[1]['x-vpclab-endpoint'] == '-'
    finally:
        s3.stop(servers)


def test_directory_store_keeps_keys_inside_its_root(tmp_path):
    store = s3.DirectoryStore(str(tmp_path / 'o'))
    store.put('../../etc/passwd', b'no')
    assert os.listdir(tmp_path) == ['o'] and store.get('../../etc/passwd') == b'no'
    assert store.get('absent') is None


def test_address_parsing():
    assert s3.address('198.18.0.10:80') == ('198.18.0.10', 80)


def test_the_command_serves_until_sigterm(tmp_path):
    proc = subprocess.Popen([sys.executable, '-m', 'testbed.appliances.s3', '--listen', '127.0.0.1:0',
                             '--endpoint', '127.0.0.1=vpce-cli', '--store', str(tmp_path / 's')], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(processes.wait_ready(proc)[1].rsplit(':', 1)[1])
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
        conn.request('PUT', '/b/k', body=b'data')
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.getheader('x-vpclab-endpoint') == 'vpce-cli'
    finally:
        counters = processes.stop(proc)
    assert proc.returncode == 0 and counters == {'PUT 200': 1}
    assert (tmp_path / 's' / 'b%2Fk').read_bytes() == b'data'


def test_processes_helpers_report_a_bad_start_and_a_silent_stop():
    proc = subprocess.Popen([sys.executable, '-c', 'import time; print("nope", flush=True); time.sleep(30)'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with pytest.raises(RuntimeError, match='did not start'):
        processes.wait_ready(proc)
    assert processes.stop(proc) == {} and proc.returncode == -signal.SIGTERM
    proc = subprocess.Popen([sys.executable, '-c', 'import sys; print("ready"); sys.stderr.write("oops")'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    processes.wait_ready(proc)
    proc.wait()
    assert processes.stop(proc) == {'error': 'oops'}
