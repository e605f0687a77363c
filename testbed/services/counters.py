"""The VPC services' counters, as each host's process writes them in the run directory every
second (`host_services --counters-file`): for the lab, `vpclab counters` and tests."""
import os

from testbed import run_dir as run_dir_files
from testbed.commands.output import Table

PREFIX, SUFFIX = 'services-', '.json'


def path(run_dir, host):
    return os.path.join(run_dir, f'{PREFIX}{host}{SUFFIX}')


def totals(per_host):
    """The answers of all hosts' processes, per service: {dns: {...}, metadata: {...}}."""
    out = {}
    for counters in per_host.values():
        for service in ('dns', 'metadata'):
            for k, v in (counters or {}).get(service, {}).items():
                out.setdefault(service, {})[k] = out.get(service, {}).get(k, 0) + v
    return out


def read_counters(run_dir):
    """host -> the counters its process last wrote in the run directory (for another terminal)."""
    return run_dir_files.read_counters(run_dir, PREFIX, SUFFIX)


def services_table(report, run_dir):
    """Add the DNS and metadata answers per host (as their processes last wrote them) to a
    `counters` report (testbed/commands/views.py)."""
    per_host = read_counters(run_dir)
    keys = [('dns', 'queries'), ('dns', 'noerror'), ('dns', 'nxdomain'), ('metadata', 'requests'),
            ('metadata', 'tokens'), ('metadata', 'v1'), ('metadata', 'v2'), ('metadata', 'v1_refused'),
            ('metadata', 'unauthorized')]
    rows = [(host, *(c.get(s, {}).get(k, 0) for s, k in keys)) for host, c in per_host.items()]
    report.tables.append(Table(('HOST', *(f'{s}-{k}'.upper().replace('_', '-') for s, k in keys)), rows,
                               'VPC services (DNS, metadata)', empty='(no service counters)'))
    report.document['Services'] = per_host
    return report
