"""The run's controller configuration, written by the fabric (testbed.fabric.controller)."""
import json
import os

ENV = 'VPCLAB_CONTROLLER_CONFIG'


def load():
    with open(os.environ[ENV]) as f:
        cfg = json.load(f)
    cfg['peers'] = {int(v): set(p) for v, p in cfg['peers'].items()}
    return cfg
