"""The etcd backend: etcd's v3 API through its gRPC gateway (JSON over HTTP) with `etcd3gw`.

Why this client: `etcd3` (the gRPC one) is unmaintained since 2020 and pins an old protobuf that
clashes with what else the venv holds; `etcd3gw` (OpenStack's, released in 2026) speaks to the
gateway every etcd 3.4+ serves on its client port, needs only `requests`, and has leases,
`create` (put if absent) and `replace` (compare-and-swap) as transactions, which is all this needs.

Keys, under `prefix` (default `vpclab`): `<prefix>/members/<node>` holds the node's lease id and
lives on that lease; `<prefix>/blocks/<gateway>/<scope>/<index>` holds the owner's name.
"""
import warnings

from testbed.state_store.base import ANY, Store, StoreError

with warnings.catch_warnings():             # futurist, under etcd3gw, warns that eventlet is deprecated
    warnings.simplefilter('ignore')
    import etcd3gw
    from etcd3gw.lease import Lease
    from etcd3gw.utils import _encode


class EtcdStore(Store):
    def __init__(self, endpoint='127.0.0.1:2379', prefix='vpclab', timeout=5):
        host, _, port = endpoint.rpartition(':')
        self.client = etcd3gw.client(host=host, port=int(port), timeout=timeout)
        self.prefix = prefix.rstrip('/')
        try:
            self.client.status()
        except etcd3gw.exceptions.Etcd3Exception as exc:
            raise StoreError(f'no etcd answers at {endpoint} ({exc}); start one (testbed.state_store.etcd_server)') \
                from None

    def _member(self, node):
        return f'{self.prefix}/members/{node}'

    def _blocks(self, gateway, scope):
        return f'{self.prefix}/blocks/{gateway}/{scope}/'

    # --- membership ---------------------------------------------------------------------------
    def join(self, node, ttl):
        lease = self.client.lease(ttl=max(1, round(ttl)))
        self.client.put(self._member(node), str(lease.id), lease=lease)

    def keepalive(self, node):
        found = self.client.get(self._member(node))
        if not found:
            return False
        return Lease(int(found[0]), self.client).refresh() > 0

    def leave(self, node):
        found = self.client.get(self._member(node))
        if found:
            Lease(int(found[0]), self.client).revoke()

    def members(self):
        prefix = self._member('')
        return sorted(meta['key'].decode()[len(prefix):] for _, meta in self.client.get_prefix(prefix))

    # --- port blocks --------------------------------------------------------------------------
    def blocks(self, gateway, scope=ANY):
        prefix = self._blocks(gateway, scope)
        return {int(meta['key'].decode()[len(prefix):]): value.decode()
                for value, meta in self.client.get_prefix(prefix)}

    def claim_block(self, gateway, node, count, scope=ANY):
        held = self.blocks(gateway, scope)
        for index in range(count):
            # create() is a transaction: put only if the key's create_revision is 0 (absent)
            if index not in held and self.client.create(f'{self._blocks(gateway, scope)}{index}', node):
                return index
        return None

    def release_block(self, gateway, index, node, scope=ANY):
        key = _encode(f'{self._blocks(gateway, scope)}{index}')
        txn = {'compare': [{'key': key, 'result': 'EQUAL', 'target': 'VALUE', 'value': _encode(node)}],
               'success': [{'request_delete_range': {'key': key}}], 'failure': []}
        return bool(self.client.transaction(txn).get('succeeded'))

    def transfer_block(self, gateway, index, from_node, to_node, scope=ANY):
        return self.client.replace(f'{self._blocks(gateway, scope)}{index}', from_node, to_node)

    def wipe(self):
        """Deletes every key under the prefix (tests, and a lab's start)."""
        self.client.delete_prefix(f'{self.prefix}/')

    def close(self):
        self.client.session.close()
