"""Client of the controller's management API (controllers/management_api.py): the mapping
service's table, the host caches, metrics, alerts, changes, migrations, security groups and which
Hyperplane nodes have failed."""
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from testbed.fabric.runstate import RunState


class ApiError(RuntimeError):
    pass


class ManagementClient:
    def __init__(self, port, timeout=10.0, token=None):
        """token: the lab's API token (RunState.api_token()); None finds it through the run
        state of the lab on `port` (root only)."""
        self.base = f'http://127.0.0.1:{int(port)}'
        self.port, self.timeout, self.token = port, timeout, token

    def _call(self, path, body=None):
        if self.token is None:
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

    def cache(self, host):
        return self._call(f'/cache/{_part(host)}')

    def metrics(self):
        return self._call('/metrics')

    def alerts(self):
        return self._call('/alerts')

    def changes(self):
        return self._call('/changes')

    def wait_for_change(self, change, timeout=30.0, what=None):
        """The record of change `change` once every host has it ({'change': None, ...} at once
        for None: nothing changed)."""
        deadline = time.monotonic() + timeout
        while change is not None:
            done = [c for c in self.changes()['done'] if c['change'] == change]
            if done:
                return done[0]
            if time.monotonic() > deadline:
                raise ApiError(f'{what or f"change {change}"} did not reach every host in {timeout:.0f} s')
            time.sleep(0.01)       # migrations are timed by this loop
        return dict(change=None, seconds=0.0, hosts=[])

    def migrate(self, instance, host):
        return self._call('/migrate', dict(instance=instance, host=host))['change']

    def terminate(self, instance):
        return self._call('/terminate', dict(instance=instance))['change']

    def security_group(self, vpc, group):
        return self._call(f'/security-groups/{_part(vpc)}/{_part(group)}')

    def set_security_group(self, vpc, group, inbound, outbound):
        return self._call('/security-groups', dict(vpc=vpc, group=group, inbound=inbound,
                                                   outbound=outbound))['change']

    def hyperplane(self):
        return self._call('/hyperplane')

    def set_failed_hyperplane(self, names):
        """Exactly these Hyperplane nodes have failed ([]: all are live); the hosts reprogram which
        node each flow goes to (asynchronously: poll the flows or the traffic)."""
        return self._call('/hyperplane/failed', dict(failed=list(names)))['failed']


def _part(name):
    """One path segment: a name with a space or a slash must not make another URL."""
    return urllib.parse.quote(str(name), safe='')
