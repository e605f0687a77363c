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
POST /migrate              {"instance": NAME, "host": HOST}
POST /terminate            {"instance": NAME}
POST /security-groups      {"vpc": V, "group": G, "inbound": [RULE], "outbound": [RULE]}
                           RULE: {protocol (number or null), ports ([first, last] or null), peer}
"""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from controllers import config
from controllers.compat import BaseApp, app_manager
from controllers.mapping_table import MappingError


class ManagementApi(BaseApp):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.port = config.load()['api_port']

    def start(self):
        thread = super().start()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                api.respond(self, 'GET', None)

            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                api.respond(self, 'POST', self.rfile.read(length))

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(('127.0.0.1', self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return thread

    @property
    def mapping(self):
        return app_manager.lookup_service_brick('MappingService')

    @property
    def hypervisor(self):
        return app_manager.lookup_service_brick('Hypervisor')

    def respond(self, handler, method, body):
        url = urlparse(handler.path)
        parts = [p for p in url.path.split('/') if p]
        try:
            status, data = 200, self.route(method, parts, parse_qs(url.query),
                                           json.loads(body) if body else {})
        except (MappingError, KeyError, ValueError) as exc:
            status, data = 400, {'error': str(exc).strip('"\'')}
        except LookupError as exc:
            status, data = 404, {'error': str(exc)}
        out = json.dumps(data, default=sorted).encode()
        handler.send_response(status)
        handler.send_header('Content-Type', 'application/json')
        handler.send_header('Content-Length', str(len(out)))
        handler.end_headers()
        handler.wfile.write(out)

    def route(self, method, parts, query, body):
        table, hv = self.mapping.table, self.hypervisor
        if method == 'POST' and parts == ['migrate']:
            return {'change': self.mapping.migrate(body['instance'], body['host'])}
        if method == 'POST' and parts == ['terminate']:
            return {'change': self.mapping.terminate(body['instance'])}
        if method == 'POST' and parts == ['security-groups']:
            return {'change': self.mapping.set_security_group(body['vpc'], body['group'],
                                                              body['inbound'], body['outbound'])}
        if method != 'GET' or not parts:
            raise LookupError('no such endpoint: {} /{}'.format(method, '/'.join(parts)))
        what = parts[0]
        if what == 'status':
            hosts = {h: dict(connected=h in hv.agents, ready=bool(hv.agents.get(h) and
                                                                   hv.agents[h].ready),
                             waiting_for_ports=hv.agents[h].waiting_for_ports()
                             if h in hv.agents else [])
                     for h in table.hosts}
            ready = all(s['ready'] and not s['waiting_for_ports'] for s in hosts.values())
            return dict(ready=ready and not table.pending(), hosts=hosts,
                        ofp_errors=len(hv.ofp_errors))
        if what == 'mappings':
            return [e.to_dict() for e in table.entries()]
        if what == 'lookup':
            entry = table.lookup(int(query['vni'][0]), query['ip'][0])
            return entry.to_dict() if entry else None
        if what == 'cache' and len(parts) == 2:
            if parts[1] not in hv.agents:
                raise LookupError(f'host {parts[1]} is not connected (or does not exist)')
            return dict(hv.agents[parts[1]].describe(), believed=[
                dict(vni=k[0], ip=k[1], version=v) for k, v in
                sorted(table.cached(parts[1]).items())])
        if what == 'metrics':
            hosts = {h: a.describe() for h, a in hv.agents.items()}
            drops = {}
            for d in hosts.values():
                for reason, n in d['drops'].items():
                    drops[reason] = drops.get(reason, 0) + n
            return dict(mapping=dict(table.counters), drops=drops,
                        alerts=sum(a['count'] for a in self.mapping.alerts.list()),
                        ofp_errors=hv.ofp_errors,
                        hosts={h: dict(counters=d['counters'], drops=d['drops'],
                                       cache_entries=len(d['cache']))
                               for h, d in hosts.items()})
        if what == 'security-groups' and len(parts) == 3:
            return self.mapping.security_group(parts[1], parts[2])
        if what == 'alerts':
            return self.mapping.alerts.list()
        if what == 'changes':
            return dict(pending=table.pending(), done=table.convergence)
        if what == 'audit':
            return table.audit
        raise LookupError('no such endpoint: GET /{}'.format('/'.join(parts)))
