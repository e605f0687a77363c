"""Reading and filtering a lab's VPC flow logs (written by controllers/router/flow_log.py)."""
import os

from controllers.router.flow_log import HEADER, parse
from testbed.fabric.controller import FLOW_LOG_FILE

ACTIONS = ('ACCEPT', 'REJECT')


def path_in(run_dir):
    return os.path.join(run_dir, FLOW_LOG_FILE)


def read(path, strict=False):
    """The records of a flow-log file.  strict: a line that is neither the header nor a record is
    a ValueError naming the line (for files a user names); else such lines are passed over.
    OSError if the file cannot be read."""
    fields = HEADER.split()
    records = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            if not line.split() or line.split() == fields:
                continue
            try:
                record = parse(line)
            except ValueError:
                record = None
            if record is not None:
                records.append(record)
            elif strict:
                raise ValueError(f'line {number} is not a flow-log record (AWS version 2: {len(fields)} fields, '
                                 f'{" ".join(fields[:3])} ...)')
    return records


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
