"""Result directories: results/<date>-<time>-<name>/ with the raw data first (data.csv,
data.json), what it was measured on (meta.json), a short summary, and plots drawn from
the data."""
import csv
import datetime
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, 'results')
META, DATA_CSV, DATA_JSON, SUMMARY = 'meta.json', 'data.csv', 'data.json', 'summary.txt'


class ResultError(ValueError):
    """A directory given as a result is not one."""


def _output(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return r.stdout.strip() if r.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def _version(module):
    try:
        from importlib.metadata import version
        return version(module)
    except Exception:       # not installed: say so rather than fail the run
        return None


def machine():
    """The machine and software a result was measured with."""
    from testbed.fabric.links import netem_available
    ovs = _output(['ovs-vsctl', '--version'])
    os_release = {}
    if os.path.exists('/etc/os-release'):
        with open('/etc/os-release') as f:
            os_release = dict(line.rstrip('\n').split('=', 1) for line in f if '=' in line)
    with open('/proc/meminfo') as f:
        mem_kb = int(f.readline().split()[1])
    return dict(hostname=platform.node(), cpus=os.cpu_count(), memory_mb=mem_kb // 1024,
                kernel=platform.release(), os=os_release.get('PRETTY_NAME', '').strip('"'),
                ovs=ovs.splitlines()[0] if ovs else None, python=platform.python_version(),
                os_ken=_version('os-ken'), mininet=_version('mininet'),
                matplotlib=_version('matplotlib'), netem=netem_available(),
                git_revision=_output(['git', '-C', ROOT, 'rev-parse', 'HEAD']),
                git_dirty=bool(_output(['git', '-C', ROOT, 'status', '--porcelain',
                                        '--untracked-files=no'])),
                command=' '.join(sys.argv))


def new_dir(name, base=RESULTS, now=None):
    stamp = (now or datetime.datetime.now()).strftime('%Y-%m-%d-%H%M%S')
    path = os.path.join(base, f'{stamp}-{name}')
    suffix = 1
    while os.path.exists(path):
        suffix += 1
        path = os.path.join(base, f'{stamp}-{name}-{suffix}')
    os.makedirs(path)
    return path


def write(path, meta, rows):
    with open(os.path.join(path, META), 'w') as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    with open(os.path.join(path, DATA_JSON), 'w') as f:
        json.dump(rows, f, indent=1)
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(os.path.join(path, DATA_CSV), 'w', newline='') as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


def load(path):
    """(meta, rows) of a result directory."""
    try:
        with open(os.path.join(path, META)) as f:
            meta = json.load(f)
        with open(os.path.join(path, DATA_JSON)) as f:
            rows = json.load(f)
    except (OSError, ValueError) as exc:
        raise ResultError(f'{path} is not a result directory of vpclab run ({exc})') from None
    return meta, rows


def summary_text(meta, metrics, specs, extra_lines=()):
    m = meta['machine']
    git = (m['git_revision'] or '?')[:10] + (' (modified)' if m['git_dirty'] else '')
    lines = [f'{meta["experiment"]}: {meta["description"]}',
             'parameters: ' + ', '.join(f'{k}={v}' for k, v in sorted(meta['params'].items())),
             f'machine: {m["hostname"]}, {m["cpus"]} CPUs, kernel {m["kernel"]}, {m["ovs"]}, Python {m["python"]}, '
             f'git {git}',
             f'link delay/loss: {meta["conditions"].get("link_conditioning", "none")}',
             '', 'figures (ratios to a baseline measured in the same run):']
    for name, value in metrics.items():
        what = specs[name].what if name in specs else ''
        lines.append(f'  {name:<32} {value:10.3f}  {what}')
    if extra_lines:
        lines += [''] + list(extra_lines)
    return '\n'.join(lines) + '\n'


def write_summary(path, text):
    with open(os.path.join(path, SUMMARY), 'w') as f:
        f.write(text)
