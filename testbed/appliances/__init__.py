"""Packet-loop appliances: programs on dedicated hosts that handle packets one by one, outside the
OpenFlow pipeline.  Blackfoot (the edge between the VPCs and the outside world) is built from these
modules, and Hyperplane (NAT gateways, load balancers, PrivateLink) is to reuse the loop and the
packet code.  See README.md here for the modules and how they fit together.  The delay line
(testbed/fabric/delayline.py) is an appliance of the same kind; it stays in testbed/fabric and may
move onto packet_loop.py later."""
