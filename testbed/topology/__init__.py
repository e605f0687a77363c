"""Topology model: YAML topology files -> validated, immutable, placed model objects."""
from .instance_types import INSTANCE_TYPES
from .loader import load, loads
from .model import (
                    VPC,
                    Instance,
                    Peering,
                    PhysicalHost,
                    PlacementGroup,
                    Rack,
                    Subnet,
                    Topology,
                    TopologyError,
)
from .placement import place

__all__ = ["load", "loads", "place", "TopologyError", "INSTANCE_TYPES", "Topology", "PhysicalHost", "Rack",
           "Subnet", "PlacementGroup", "Instance", "VPC", "Peering"]
