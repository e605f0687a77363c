"""JSON management API on 127.0.0.1, used by `vpclab` and testbed.Lab while a lab runs.

GET  /status               every host: connected, ready, instances waiting for a port
GET  /mappings             the authoritative table
GET  /lookup?vni=N&ip=A    one entry (no host cache is subscribed)
GET  /cache/HOST           what HOST's cache really holds, its counters and drops
GET  /metrics              mapping-service counters, per-host counters, drops by reason
GET  /alerts               alerts, oldest first
GET  /changes              pending and finished changes (convergence times)
GET  /audit                every registration, migration and termination
GET  /security-groups/VPC/GROUP   a group's rules now
GET  /hyperplane           Hyperplane nodes, the failed ones, each resource's shard and live nodes
POST /migrate              {"instance": NAME, "host": HOST}
POST /terminate            {"instance": NAME}
POST /security-groups      {"vpc": V, "group": G, "inbound": [RULE], "outbound": [RULE]}
                           RULE: {protocol (0-255 or null), ports ([first, last] or null, tcp and
                           udp only), peer (a CIDR block or "sg:GROUP"), number: null, action: "allow"}
POST /hyperplane/failed    {"failed": [NODE]}: exactly these Hyperplane nodes have failed; each flow
                           goes to a live node of its resource's shard (a shard is never refilled)

Every request is checked before anything acts on it; every error is a JSON object
{"error": "..."} with a 4xx status that never repeats the request.  A POST changes the lab,
so it must carry the lab's token (header X-Vpclab-Token, from the root-only file named by
`api_token_path` in the controller configuration) and Content-Type: application/json, which
a web page in a browser on this machine cannot send.  Requests are bounded: the body
(MAX_BODY), the time to send the whole request (REQUEST_DEADLINE_S), and the handlers
running at once (MAX_HANDLERS; more get 429).

`Api` is the request -> response function (no sockets, tested with a fake backend);
`serve()` puts it on a socket; `ManagementApi` is the thin os-ken app that does both.
"""
import hmac
import ipaddress
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from controllers import config
from controllers.compat import BaseApp, app_manager

TOKEN_HEADER = 'X-Vpclab-Token'
MAX_BODY = 64 * 1024                 # a group with 2 x 60 rules is ~15 kB
REQUEST_DEADLINE_S = 5.0             # for the whole request, however slowly it is sent
MAX_HANDLERS = 16
MAX_RULES = 60                       # AWS's default quota of rules per direction of a group
MAX_NAME = 255
MAX_VNI = (1 << 24) - 1
PORTED = (6, 17)                     # tcp and udp rules may name ports
RULE_KEYS = ('protocol', 'ports', 'peer', 'number', 'action')
ENDPOINTS = ('GET /status, /mappings, /lookup?vni=N&ip=A, /cache/HOST, /metrics, /alerts, /changes, '
             '/audit, /security-groups/VPC/GROUP, /hyperplane; POST /migrate, /terminate, /security-groups, '
             '/hyperplane/failed')
MAX_NODES = 1000


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def bad(message):
    return ApiError(400, message)


# ---- checking requests -------------------------------------------------------------------

def _object(body, required, optional=()):
    if not isinstance(body, dict):
        raise bad('the body must be a JSON object')
    missing = [k for k in required if k not in body]
    extra = sorted(k for k in body if k not in required and k not in optional)
    if missing:
        raise bad(f'missing key(s): {", ".join(missing)}')
    if extra:
        raise bad(f'unknown key(s): {", ".join(repr(k)[:40] for k in extra[:5])}; '
                  f'the keys are {", ".join(required + tuple(optional))}')
    return body


def _name(body, key):
    value = body[key]
    if not isinstance(value, str) or not value or len(value) > MAX_NAME or not value.isprintable():
        raise bad(f'{key} must be a non-empty name of at most {MAX_NAME} printable characters')
    return value


def _integer(value, low, high, what):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise bad(f'{what} must be an integer from {low} to {high}')
    return value


def check_rule(rule, where, groups):
    """One security-group rule as the API takes it -> its complete form, or ApiError."""
    if not isinstance(rule, dict):
        raise bad(f'{where} must be an object with keys protocol, ports, peer')
    _object(rule, ('protocol', 'peer'), ('ports', 'number', 'action'))
    protocol = rule['protocol']
    if protocol is not None:
        _integer(protocol, 0, 255, f'{where}: protocol')
    ports = rule.get('ports')
    if ports is not None:
        if protocol not in PORTED:
            raise bad(f'{where}: ports apply only to tcp (6) and udp (17)')
        if not isinstance(ports, list) or len(ports) != 2:
            raise bad(f'{where}: ports must be [first, last] or null')
        first, last = (_integer(p, 0, 65535, f'{where}: a port') for p in ports)
        if first > last:
            raise bad(f'{where}: the port range runs backwards')
        ports = [first, last]
    peer = rule['peer']
    if not isinstance(peer, str) or len(peer) > MAX_NAME:
        raise bad(f'{where}: peer must be a CIDR block or sg:GROUP')
    if peer.startswith('sg:'):
        if peer[3:] not in groups:
            raise bad(f'{where}: {peer[:60]!r} is not a security group of this VPC')
    else:
        try:
            net = ipaddress.IPv4Network(peer, strict=True)
        except ValueError:
            raise bad(f'{where}: peer must be a CIDR block like 10.0.0.0/16 (network address, '
                      f'prefix length) or sg:GROUP') from None
        if '/' not in peer or str(net) != peer:
            raise bad(f'{where}: write the peer as {net}')
    if rule.get('number') is not None:
        raise bad(f'{where}: security-group rules have no number')
    if rule.get('action', 'allow') != 'allow':
        raise bad(f'{where}: security-group rules only allow')
    return dict(protocol=protocol, ports=ports, peer=peer, number=None, action='allow')


def check_rules(rules, direction, groups):
    if not isinstance(rules, list):
        raise bad(f'{direction} must be a list of rules')
    if len(rules) > MAX_RULES:
        raise bad(f'{direction} has {len(rules)} rules; a group has at most {MAX_RULES} per direction')
    return [check_rule(r, f'{direction} rule {i + 1}', groups) for i, r in enumerate(rules)]


def _query(query, key):
    values = query.get(key)
    if not values or len(values) != 1:
        raise bad(f'give {key}= once')
    return values[0]


def _content_type_is_json(value):
    kind, _, params = (value or '').partition(';')
    params = params.strip().lower().replace(' ', '')
    return kind.strip().lower() == 'application/json' and params in ('', 'charset=utf-8')


def _no_constants(name):
    raise ValueError(f'{name} is not JSON')


# ---- the request -> response function -------------------------------------------------------

class Api:
    """handle(method, target, headers, body) -> (status, JSON-able)."""

    def __init__(self, backend, token, port=None):
        if not token:
            raise ValueError('the management API needs a token')
        self.backend, self.token, self.port = backend, token, port

    def handle(self, method, target, headers, body=None):
        try:
            return 200, self._handle(method, target, {k.lower(): v for k, v in headers.items()}, body)
        except ApiError as exc:
            return exc.status, {'error': exc.message}
        except LookupError as exc:         # unknown VPC, group or host (the backend's words)
            return 404, {'error': str(exc).strip('"\'')[:300]}
        except ValueError as exc:          # MappingError: the table refused the change
            return 400, {'error': str(exc).strip('"\'')[:300]}

    def _handle(self, method, target, headers, body):
        if self.port is not None and headers.get('host') not in (f'127.0.0.1:{self.port}',
                                                                 f'localhost:{self.port}'):
            raise ApiError(403, f'the Host header must be 127.0.0.1:{self.port}')
        url = urlsplit(target)
        parts = [p for p in url.path.split('/') if p]
        if method == 'POST':
            if not hmac.compare_digest(headers.get(TOKEN_HEADER.lower(), '').encode(), self.token.encode()):
                raise ApiError(403, f'a POST needs the lab\'s token in the {TOKEN_HEADER} header '
                                    f'(RunState.api_token(), root only)')
            if not _content_type_is_json(headers.get('content-type')):
                raise ApiError(415, 'a POST must be Content-Type: application/json')
            return self.post(parts, self._json(body))
        if method == 'GET':
            if body:
                raise bad('a GET has no body')
            try:
                query = parse_qs(url.query, strict_parsing=bool(url.query), max_num_fields=10)
            except ValueError:
                raise bad('the query string is malformed') from None
            return self.get(parts, query)
        raise ApiError(405, f'use GET or POST; {ENDPOINTS}')

    @staticmethod
    def _json(body):
        try:
            data = json.loads((body or b'').decode('utf-8'), parse_constant=_no_constants)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise bad('the body is not valid JSON (UTF-8)') from None
        if not isinstance(data, dict):
            raise bad('the body must be a JSON object')
        return data

    def post(self, parts, body):
        b = self.backend
        if parts == ['migrate']:
            _object(body, ('instance', 'host'))
            return {'change': b.migrate(_name(body, 'instance'), _name(body, 'host'))}
        if parts == ['terminate']:
            _object(body, ('instance',))
            return {'change': b.terminate(_name(body, 'instance'))}
        if parts == ['security-groups']:
            _object(body, ('vpc', 'group', 'inbound', 'outbound'))
            vpc, group = _name(body, 'vpc'), _name(body, 'group')
            groups = b.group_names(vpc)                      # LookupError: no such VPC
            if group not in groups:
                raise ApiError(404, f'vpc {vpc} has no security group {group[:60]!r}')
            rules = {d: check_rules(body[d], d, groups) for d in ('inbound', 'outbound')}
            return {'change': b.set_security_group(vpc, group, rules['inbound'], rules['outbound'])}
        if parts == ['hyperplane', 'failed']:
            _object(body, ('failed',))
            names = body['failed']
            if not isinstance(names, list) or len(names) > MAX_NODES:
                raise bad(f'failed must be a list of at most {MAX_NODES} node names')
            return {'failed': b.set_failed_hyperplane(sorted({_name(dict(node=n), 'node') for n in names}))}
        raise ApiError(404, f'no such endpoint; {ENDPOINTS}')

    def get(self, parts, query):
        b = self.backend
        if parts == ['hyperplane']:
            return b.hyperplane()
        simple = dict(status=b.status, mappings=b.mappings, metrics=b.metrics, alerts=b.alerts,
                      changes=b.changes, audit=b.audit)
        if len(parts) == 1 and parts[0] in simple:
            return simple[parts[0]]()
        if parts == ['lookup']:
            vni = _query(query, 'vni')
            if not re.fullmatch(r'[0-9]{1,8}', vni):
                raise bad(f'vni must be an integer from 0 to {MAX_VNI}')
            try:
                ip = str(ipaddress.IPv4Address(_query(query, 'ip')))
            except ValueError:
                raise bad('ip must be an IPv4 address') from None
            return b.lookup(_integer(int(vni), 0, MAX_VNI, 'vni'), ip)
        if len(parts) == 2 and parts[0] == 'cache':
            return b.cache(parts[1])
        if len(parts) == 3 and parts[0] == 'security-groups':
            return b.security_group(parts[1], parts[2])
        raise ApiError(404, f'no such endpoint; {ENDPOINTS}')


# ---- on a socket -------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.0'          # one request per connection
    timeout = REQUEST_DEADLINE_S           # per read; the deadline below bounds the whole request
    server_version = 'vpclab'
    sys_version = ''

    def setup(self):
        super().setup()
        self._deadline = threading.Timer(self.server.deadline_s, self._cut)
        self._deadline.daemon = True
        self._deadline.start()

    def finish(self):
        self._deadline.cancel()
        try:
            super().finish()
        except OSError:
            pass

    def _cut(self):
        """The request took too long: end the connection (the blocked read returns)."""
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        self._serve('GET')

    def do_POST(self):
        self._serve('POST')

    def do_PUT(self):
        self._serve('PUT')

    do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_PUT

    def _serve(self, method):
        try:
            body = self._body(method)
            status, data = self.server.api.handle(method, self.path, self.headers, body)
        except ApiError as exc:
            status, data = exc.status, {'error': exc.message}
        except Exception as exc:      # a bug: say so without the request, keep serving
            self.server.log(f'management API error on {method}: {exc!r}')
            status, data = 500, {'error': 'internal error; see the controller log'}
        self._send(status, data)

    def _body(self, method):
        if 'transfer-encoding' in self.headers:
            raise ApiError(411, 'send the body with a Content-Length, not chunked')
        length = self.headers.get('Content-Length')
        if length is None:
            if method == 'POST':
                raise ApiError(411, 'a POST needs a Content-Length')
            return None
        if len(self.headers.get_all('Content-Length')) != 1 or not re.fullmatch(r'[0-9]{1,10}', length):
            raise bad('Content-Length must be one decimal number of bytes')
        if int(length) > MAX_BODY:
            raise ApiError(413, f'the body is larger than {MAX_BODY} bytes')
        try:
            body = self.rfile.read(int(length))
        except OSError:
            body = b''
        if len(body) != int(length):
            raise ApiError(408, 'the body was shorter than its Content-Length, or too slow')
        return body

    def _send(self, status, data):
        out = json.dumps(data, default=sorted).encode()
        try:
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(out)))
            self.send_header('X-Content-Type-Options', 'nosniff')
            self.send_header('Cache-Control', 'no-store')
            self.end_headers()
            self.wfile.write(out)
        except OSError:
            pass

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (bad request line, headers too long...), as JSON and
        without repeating what was sent."""
        self.close_connection = True
        if self.request_version in ('', 'HTTP/0.9'):     # answer with headers all the same
            self.request_version = 'HTTP/1.0'
        reasons = {400: 'bad request', 408: 'request timeout', 414: 'the request line is too long',
                   431: 'the request headers are too large', 501: 'unsupported method'}
        status = 405 if code == 501 else code if 400 <= code < 500 else 400
        self._send(status, {'error': reasons.get(code, 'bad request')})

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(self, address, api, max_handlers=MAX_HANDLERS, deadline_s=REQUEST_DEADLINE_S,
                 log=lambda msg: None):
        self.api, self.deadline_s, self.log = api, deadline_s, log
        self.slots = threading.BoundedSemaphore(max_handlers)
        super().__init__(address, Handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            out = b'{"error": "too many requests at once; try again"}'
            try:
                request.settimeout(1.0)
                request.sendall(b'HTTP/1.0 429 Too Many Requests\r\nContent-Type: application/json\r\n'
                                b'Content-Length: %d\r\n\r\n%s' % (len(out), out))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def serve(api, port, host='127.0.0.1', **kwargs):
    """Start serving `api` in a thread; returns the server (server.shutdown() stops it)."""
    server = Server((host, port), api, **kwargs)
    threading.Thread(target=server.serve_forever, daemon=True, name='management-api').start()
    return server


def read_token(path):
    with open(path) as f:
        token = f.read().strip()
    if not token:
        raise ValueError(f'{path} holds no token')
    return token


# ---- the os-ken app ----------------------------------------------------------------------

class Backend:
    """What the API reads and changes: the mapping service and the router app."""

    def __init__(self, mapping, router_app):
        self._mapping, self._router_app = mapping, router_app     # functions: the apps

    def status(self):
        table, routers = self._mapping().table, self._router_app()
        live = routers.routers
        hosts = {h: dict(connected=h in live, ready=bool(live.get(h) and live[h].ready),
                         waiting_for_ports=live[h].waiting_for_ports() if h in live else [])
                 for h in table.hosts}
        ready = all(s['ready'] and not s['waiting_for_ports'] for s in hosts.values())
        return dict(ready=ready and not table.pending(), hosts=hosts, ofp_errors=len(routers.ofp_errors))

    def mappings(self):
        return [e.to_dict() for e in self._mapping().table.entries()]

    def lookup(self, vni, ip):
        entry = self._mapping().table.lookup(vni, ip)
        return entry.to_dict() if entry else None

    def cache(self, host):
        routers, table = self._router_app(), self._mapping().table
        if host not in routers.routers:
            raise ApiError(404, f'host {host[:60]} is not connected (or does not exist)')
        return dict(routers.routers[host].describe(), believed=[
            dict(vni=k[0], ip=k[1], version=v) for k, v in sorted(table.cached(host).items())])

    def metrics(self):
        mapping, routers = self._mapping(), self._router_app()
        hosts = {h: a.describe() for h, a in routers.routers.items()}
        drops = {}
        for d in hosts.values():
            for reason, n in d['drops'].items():
                drops[reason] = drops.get(reason, 0) + n
        return dict(mapping=dict(mapping.table.counters), drops=drops,
                    alerts=sum(a['count'] for a in mapping.alerts.list()), ofp_errors=routers.ofp_errors,
                    hosts={h: dict(counters=d['counters'], drops=d['drops'], cache_entries=len(d['cache']))
                           for h, d in hosts.items()})

    def alerts(self):
        return self._mapping().alerts.list()

    def changes(self):
        table = self._mapping().table
        return dict(pending=table.pending(), done=table.convergence)

    def audit(self):
        return self._mapping().table.audit

    def security_group(self, vpc, group):
        return self._mapping().security_group(vpc, group)

    def group_names(self, vpc):
        mapping = self._mapping()
        return set(mapping.groups.groups[mapping.vpc_vni(vpc)])

    def migrate(self, instance, host):
        return self._mapping().migrate(instance, host)

    def terminate(self, instance):
        return self._mapping().terminate(instance)

    def set_security_group(self, vpc, group, inbound, outbound):
        return self._mapping().set_security_group(vpc, group, inbound, outbound)

    def hyperplane(self):
        return self._router_app().hyperplane.describe()

    def set_failed_hyperplane(self, names):
        return self._router_app().set_failed_hyperplane(names)


class ManagementApi(BaseApp):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cfg = config.load()
        self.port, self.token_path = cfg['api_port'], cfg['api_token_path']
        self.server = None

    def start(self):
        thread = super().start()
        backend = Backend(lambda: app_manager.lookup_service_brick('MappingService'),
                          lambda: app_manager.lookup_service_brick('RouterApp'))
        self.server = serve(Api(backend, read_token(self.token_path), self.port), self.port,
                            log=self.logger.error)
        return thread
