"""vpclab: the AWS VPC data plane on Mininet + Open vSwitch + an OpenFlow controller."""


def __getattr__(name):
    # `from testbed import Lab` without importing Mininet for pure-logic users
    if name == 'Lab':
        from testbed.lab import Lab
        return Lab
    raise AttributeError(name)
