"""The emulated physical world: underlay, hypervisor bridges, instances (Mininet + OVS)."""
