"""Reading and filtering a lab's VPC flow logs (written by controllers/router/flow_log.py)."""
import os

from controllers.router.flow_log import HEADER, parse
from testbed.fabric.controller import FLOW_LOG_FILE

ACTIONS = ('ACCEPT', 'REJECT')


def path_in(run_dir):
    return os.path.join(run_dir, FLOW_LOG_FILE)


def read(path):
    with open(path) as f:
        return [r for r in map(parse, f) if r]


def select(records, eni=None, address=None, port=None, action=None):
    """Records of one ENI, with `address` as source or destination, `port` as either port,
    and action ACCEPT or REJECT; None means any."""
    return [r for r in records
            if (eni is None or r['interface-id'] == eni)
            and (address is None or address in (r['srcaddr'], r['dstaddr']))
            and (port is None or port in (r['srcport'], r['dstport']))
            and (action is None or r['action'] == action.upper())]


def lines(records):
    return [HEADER] + [' '.join(str(r[k]) for k in HEADER.split()) for r in records]
