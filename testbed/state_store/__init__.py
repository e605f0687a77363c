"""The state store of the Hyperplane nodes: membership with leases, and NAT port-block claims.

One interface (`Store`, in base.py), two backends:

- `EmbeddedStore` (the default): in the lab's process, thread-safe, its clock injectable for tests;
- `EtcdStore`: etcd's v3 API through its gRPC gateway (JSON over HTTP) with the `etcd3gw` client,
  for labs that outgrow one machine; `etcd_server.EtcdServer` starts Debian's `etcd` on 127.0.0.1
  with a temporary data directory and stops it by PID.

    store = open_store('embedded')                     # or open_store('etcd', endpoint='127.0.0.1:2379')
    store.join('hp1', ttl=5); store.keepalive('hp1'); store.members()
    store.claim_block('nat-0abc', 'hp1', count=63)      # -> block index, unique across nodes, or None
    store.transfer_block('nat-0abc', 3, 'hp1', 'hp2')   # compare-and-swap of the owner
"""
from testbed.state_store.base import Store, StoreError
from testbed.state_store.embedded import EmbeddedStore

BACKENDS = ('embedded', 'etcd')


def open_store(kind='embedded', **options):
    """A store of backend `kind` ('embedded' or 'etcd'; etcd takes endpoint='HOST:PORT', prefix=)."""
    if kind == 'embedded':
        return EmbeddedStore(**options)
    if kind == 'etcd':
        from testbed.state_store.etcd import EtcdStore
        return EtcdStore(**options)
    raise StoreError(f'no state store backend {kind!r}; the backends are: {", ".join(BACKENDS)}')


__all__ = ['BACKENDS', 'EmbeddedStore', 'Store', 'StoreError', 'open_store']
