"""The VPC's own services, answered on each instance's physical host: DHCP (in the virtual router,
controllers/router/dhcp.py), the Amazon DNS server and instance metadata (here, in a per-host
service namespace). docs/services.md says how each is answered and how they are wired."""
