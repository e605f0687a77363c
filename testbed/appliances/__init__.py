"""Packet-loop appliances: programs that sit in the data path and handle packets one by one,
outside the OpenFlow pipeline.  Blackfoot (the edge between a VPC and the outside world) and
Hyperplane (the NAT gateway, load balancers and PrivateLink behind them) will live here, each as
a module or package of its own.  The delay line (testbed/fabric/delayline.py, a loop that holds
underlay packets to add latency) is the first appliance of this kind; it stays in testbed/fabric
for now.  Nothing here yet."""
