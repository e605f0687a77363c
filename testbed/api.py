"""Client of the controller's management API (controllers/management_api.py)."""
import json
import urllib.error
import urllib.request


class ApiError(RuntimeError):
    pass


class MappingClient:
    def __init__(self, port, timeout=10.0, token=None):
        """token: the lab's API token (RunState.api_token()); None finds it through the run
        state of the lab on `port` (root only)."""
        self.base = f'http://127.0.0.1:{port}'
        self.port, self.timeout, self.token = port, timeout, token

    def _call(self, path, body=None):
        if self.token is None:
            from testbed.fabric.runstate import RunState
            state = RunState.for_api_port(self.port)
            self.token = (state and state.api_token()) or ''
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data,
                                     headers={'Content-Type': 'application/json',
                                              'X-Vpclab-Token': self.token})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.load(r)
        except urllib.error.HTTPError as exc:
            raise ApiError(json.load(exc).get('error', str(exc))) from None
        except OSError as exc:
            raise ApiError(f'the controller API does not answer ({exc})') from None

    def status(self):
        return self._call('/status')

    def mappings(self):
        return self._call('/mappings')

    def lookup(self, vni, ip):
        return self._call(f'/lookup?vni={vni}&ip={ip}')

    def cache(self, host):
        return self._call('/cache/' + host)

    def metrics(self):
        return self._call('/metrics')

    def alerts(self):
        return self._call('/alerts')

    def changes(self):
        return self._call('/changes')

    def audit(self):
        return self._call('/audit')

    def migrate(self, instance, host):
        return self._call('/migrate', dict(instance=instance, host=host))['change']

    def terminate(self, instance):
        return self._call('/terminate', dict(instance=instance))['change']

    def security_group(self, vpc, group):
        return self._call(f'/security-groups/{vpc}/{group}')

    def set_security_group(self, vpc, group, inbound, outbound):
        return self._call('/security-groups', dict(vpc=vpc, group=group, inbound=inbound,
                                                   outbound=outbound))['change']
