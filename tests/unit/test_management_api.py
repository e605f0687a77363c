"""The management API's HTTP side without a lab: the real server on 127.0.0.1 with a fake
backend, driven with raw sockets (issue 14 item 5)."""
import json
import socket
import threading
import time

import pytest

from controllers import management_api as M

TOKEN = 'unit-test-token'
SECRET = 'do-not-echo-7f3a'


class FakeBackend:
    def __init__(self):
        self.calls = []

    def status(self):
        return dict(ready=True)

    def mappings(self):
        return []

    def lookup(self, vni, ip):
        self.calls.append(('lookup', vni, ip))
        return None

    def cache(self, host):
        raise M.ApiError(404, 'host is not connected')

    def metrics(self):
        return {}

    def alerts(self):
        return []

    def changes(self):
        return dict(pending=[], done=[])

    def audit(self):
        return []

    def security_group(self, vpc, group):
        raise LookupError('no such group')

    def group_names(self, vpc):
        if vpc != 'blue':
            raise LookupError(f'no VPC named {vpc!r}')
        return {'default', 'web'}

    def migrate(self, instance, host):
        self.calls.append(('migrate', instance, host))
        return 7

    def terminate(self, instance):
        raise ValueError(f'no instance named {instance!r} is registered')

    def set_security_group(self, vpc, group, inbound, outbound):
        self.calls.append(('set', vpc, group, inbound, outbound))
        return 8


@pytest.fixture
def api():
    backend = FakeBackend()
    server = M.Server(('127.0.0.1', 0), None, max_handlers=3, deadline_s=1.0)
    port = server.server_address[1]
    server.api = M.Api(backend, TOKEN, port)
    threading.Thread(target=server.serve_forever, kwargs=dict(poll_interval=0.02), daemon=True).start()
    yield server, backend, port
    server.shutdown()
    server.server_close()


def raw(port, data, timeout=5.0, shut=True):
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def parse(reply):
    head, _, body = reply.partition(b'\r\n\r\n')
    status = int(head.split()[1])
    assert b'Content-Type: application/json' in head, head
    return status, json.loads(body)


def request(port, method='POST', path='/migrate', body=b'', headers=None, token=TOKEN,
            content_type='application/json'):
    h = {'Host': f'127.0.0.1:{port}', 'Content-Length': str(len(body))}
    if token is not None:
        h[M.TOKEN_HEADER] = token
    if content_type is not None:
        h['Content-Type'] = content_type
    h.update(headers or {})
    lines = [f'{method} {path} HTTP/1.1'] + [f'{k}: {v}' for k, v in h.items() if v is not None]
    return parse(raw(port, ('\r\n'.join(lines) + '\r\n\r\n').encode() + body))


def post(port, path, obj, **kw):
    return request(port, 'POST', path, json.dumps(obj).encode(), **kw)


def rule(**kw):
    return dict(dict(protocol=6, ports=[80, 80], peer='10.0.0.0/16'), **kw)


def group(inbound=None, outbound=None, **kw):
    return dict(dict(vpc='blue', group='web', inbound=[rule()] if inbound is None else inbound,
                     outbound=[] if outbound is None else outbound), **kw)


# ---- what works ------------------------------------------------------------------------

def test_get_and_a_good_post(api):
    _, backend, port = api
    assert request(port, 'GET', '/status', token=None, content_type=None) == (200, {'ready': True})
    assert post(port, '/migrate', dict(instance='web-1', host='r1-h2')) == (200, {'change': 7})
    assert post(port, '/security-groups', group(inbound=[rule(), rule(protocol=None, ports=None,
                                                                      peer='sg:default')])) == (200, {'change': 8})
    assert backend.calls[-1] == ('set', 'blue', 'web', [
        dict(protocol=6, ports=[80, 80], peer='10.0.0.0/16', number=None, action='allow'),
        dict(protocol=None, ports=None, peer='sg:default', number=None, action='allow')], [])
    status, _ = request(port, 'POST', '/migrate', json.dumps(dict(instance='a', host='b')).encode(),
                        content_type='application/json; charset=utf-8')
    assert status == 200


# ---- what a browser or another local program cannot do -----------------------------------

@pytest.mark.parametrize('token', [None, '', 'wrong', TOKEN + 'x', TOKEN[:-1]])
def test_a_post_without_the_token_is_refused(api, token):
    _, backend, port = api
    status, data = post(port, '/migrate', dict(instance='web-1', host='r1-h2'), token=token)
    assert status == 403 and M.TOKEN_HEADER in data['error']
    assert backend.calls == []


@pytest.mark.parametrize('content_type', [None, 'text/plain', 'application/x-www-form-urlencoded',
                                          'multipart/form-data; boundary=x', 'application/json; charset=latin-1'])
def test_a_post_that_is_not_json_is_refused(api, content_type):
    _, backend, port = api
    status, _ = post(port, '/migrate', dict(instance='web-1', host='r1-h2'), content_type=content_type)
    assert status == 415 and backend.calls == []


@pytest.mark.parametrize('host', ['evil.example:80', 'localhost', None, '127.0.0.1'])
def test_a_foreign_host_header_is_refused(api, host):
    _, _, port = api
    status, _ = request(port, 'GET', '/status', headers={'Host': host})
    assert status == 403


# ---- malformed requests: a JSON 4xx, never the request back -------------------------------

@pytest.mark.parametrize('length,expect', [('abc', 400), ('-5', 400), ('1e3', 400), (' 5', 400),
                                           ('99999999999999999999', 400), (str(M.MAX_BODY + 1), 413),
                                           ('1000000000', 413)])
def test_bad_huge_or_negative_content_length(api, length, expect):
    server, _, port = api
    t0 = time.monotonic()
    status, data = request(port, body=SECRET.encode(), headers={'Content-Length': length})
    assert status == expect and SECRET not in json.dumps(data)
    assert time.monotonic() - t0 < 2
    assert request(port, 'GET', '/status')[0] == 200          # the server still serves


def test_missing_duplicate_or_chunked_length(api):
    _, _, port = api
    assert request(port, body=b'', headers={'Content-Length': None})[0] == 411
    assert request(port, body=b'', headers={'Transfer-Encoding': 'chunked'})[0] == 411
    reply = raw(port, f'POST /migrate HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 2\r\n'
                      f'Content-Length: 2\r\n{M.TOKEN_HEADER}: {TOKEN}\r\n\r\n{{}}'.encode())
    assert parse(reply)[0] == 400


def test_a_body_shorter_than_its_length_is_answered_not_waited_for(api):
    _, _, port = api
    t0 = time.monotonic()
    status, _ = request(port, body=b'{"instance"', headers={'Content-Length': '500'})
    assert status == 408 and time.monotonic() - t0 < 3


@pytest.mark.parametrize('body', [b'[1, 2]', b'"text"', b'null', b'7', b'{"a": NaN}', b'{bad json',
                                  b'\xff\xfe{}', b'', b'[' * 5000 + b']' * 5000])
def test_a_body_that_is_not_a_json_object(api, body):
    _, backend, port = api
    status, data = request(port, body=body)
    assert status == 400 and 'error' in data and backend.calls == []


def test_errors_never_echo_the_body(api):
    _, _, port = api
    for obj in (dict(instance=SECRET), dict(instance='a', host='b', extra=SECRET), [SECRET],
                group(inbound=SECRET), group(inbound=[rule(peer=SECRET)])):
        status, data = post(port, '/migrate' if 'instance' in str(obj) else '/security-groups', obj)
        assert 400 <= status < 500 and SECRET not in data['error'], (obj, data)


@pytest.mark.parametrize('body', [dict(instance='web-1'), dict(instance='web-1', host='h', x=1),
                                  dict(instance=7, host='h'), dict(instance='', host='h'),
                                  dict(instance='a' * 300, host='h'), dict(instance='a\nb', host='h')])
def test_migrate_checks_its_keys(api, body):
    _, backend, port = api
    assert post(port, '/migrate', body)[0] == 400 and backend.calls == []


def test_the_tables_refusal_is_a_400(api):
    _, _, port = api
    status, data = post(port, '/terminate', dict(instance='nope'))
    assert status == 400 and 'no instance named' in data['error']


@pytest.mark.parametrize('body', [
    group(inbound='junk'), group(inbound=None, outbound='junk'), group(inbound=['junk']),
    group(inbound=[rule(ports=[60000, 70000])]), group(inbound=[rule(ports=[-1, 80])]),
    group(inbound=[rule(ports=[90, 80])]), group(inbound=[rule(ports=[80])]),
    group(inbound=[rule(ports=['80', '80'])]), group(inbound=[rule(ports=[80.0, 80])]),
    group(inbound=[rule(ports=[True, 80])]), group(inbound=[rule(protocol=1)]),
    group(inbound=[rule(protocol=256, ports=None)]), group(inbound=[rule(protocol=-1, ports=None)]),
    group(inbound=[rule(protocol='tcp')]), group(inbound=[rule(protocol=True, ports=None)]),
    group(inbound=[rule(peer='sg:nope')]), group(inbound=[rule(peer='10.0.0.1/16')]),
    group(inbound=[rule(peer='10.0.0.0')]), group(inbound=[rule(peer='10.0.0.0/33')]),
    group(inbound=[rule(peer='::/0')]), group(inbound=[rule(peer=7)]), group(inbound=[rule(action='deny')]),
    group(inbound=[rule(number=100)]), group(inbound=[dict(rule(), extra=1)]),
    group(inbound=[dict(protocol=6)]), group(inbound=[rule()] * (M.MAX_RULES + 1)),
    dict(vpc='blue', group='web', inbound=[]), dict(group(), extra=1), group(vpc=['blue'])])
def test_security_group_rules_are_checked_before_anything_is_stored(api, body):
    _, backend, port = api
    status, data = post(port, '/security-groups', body)
    assert status == 400, data
    assert backend.calls == []


def test_unknown_vpc_or_group_is_a_404(api):
    _, backend, port = api
    assert post(port, '/security-groups', group(vpc='green'))[0] == 404
    assert post(port, '/security-groups', group(group='nope'))[0] == 404
    assert backend.calls == []


@pytest.mark.parametrize('path', ['/lookup', '/lookup?vni=x&ip=10.0.0.1', '/lookup?vni=1&ip=300.0.0.1',
                                  '/lookup?vni=99999999&ip=10.0.0.1', '/lookup?vni=1&vni=2&ip=10.0.0.1',
                                  '/lookup?vni=-1&ip=10.0.0.1', '/lookup?vni=1&ip=10.0.0.1&&&'])
def test_lookup_checks_its_query(api, path):
    _, backend, port = api
    assert request(port, 'GET', path)[0] == 400 and backend.calls == []


def test_unknown_endpoints_and_methods(api):
    _, _, port = api
    assert request(port, 'GET', '/nope')[0] == 404
    assert request(port, 'GET', '/cache/r9-h9')[0] == 404
    assert post(port, '/status', {})[0] == 404
    assert request(port, 'PUT', '/migrate', b'{}')[0] == 405
    assert request(port, 'DELETE', '/migrate')[0] == 405
    assert request(port, 'GET', '/status', body=b'{}')[0] == 400


@pytest.mark.parametrize('data', [b'garbage\r\n\r\n', b'GET /status HTTP/9.9\r\n\r\n',
                                  b'GET /' + b'a' * 70000 + b' HTTP/1.1\r\n\r\n',
                                  b'GET /status HTTP/1.1\r\n' + b'X: y\r\n' * 200 + b'\r\n'])
def test_a_malformed_request_gets_a_json_4xx(api, data):
    _, _, port = api
    status, body = parse(raw(port, data))
    assert 400 <= status < 500 and 'error' in body


# ---- time and threads are bounded -------------------------------------------------------

def test_a_slow_client_is_cut_off_at_the_deadline(api):
    _, _, port = api
    with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
        s.sendall(b'POST /migrate HTTP/1.1\r\n')
        t0 = time.monotonic()
        for _ in range(20):                              # one header byte at a time, slowly
            try:
                s.sendall(b'X')
            except OSError:
                break
            time.sleep(0.2)
            s.setblocking(False)
            try:
                if s.recv(1024) == b'':
                    break
            except BlockingIOError:
                pass
            except OSError:
                break
            finally:
                s.setblocking(True)
        assert time.monotonic() - t0 < 2.5


def test_handlers_are_bounded_and_the_server_keeps_serving(api):
    server, _, port = api
    slow = [socket.create_connection(('127.0.0.1', port)) for _ in range(3)]   # max_handlers=3
    try:
        for s in slow:
            s.sendall(b'GET /status HTTP/1.1\r\n')
        time.sleep(0.2)
        # (sending nothing first: the server answers 429 at once and closes)
        status, data = parse(raw(port, b'', shut=False))
        assert status == 429 and 'error' in data
    finally:
        for s in slow:
            s.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            if request(port, 'GET', '/status')[0] == 200:
                break
        except OSError:              # refused while the slow handlers were still ending
            pass
        time.sleep(0.1)
    else:
        pytest.fail('the server did not recover after the slow clients left')


def test_the_api_needs_a_token():
    with pytest.raises(ValueError):
        M.Api(FakeBackend(), '')
