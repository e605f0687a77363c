"""OpenFlow apps of vpclab: the mapping service and the hypervisor's virtual router.

Written against the Ryu API; `compat` picks os-ken (default) or Ryu.
"""
