"""The classroom labs under labs/ (labs/README.md): each is a folder labs/<NN-name>/ with README.md (the
student's steps and questions; its first heading is the lab's one-line description), topology.yaml (the
starting network), checks.yaml and solution/ (one topology file to switch to, or one commands file of
vpclab commands applied to the running lab).

A commands file holds one `vpclab` command of a running lab per line, as typed after `vpclab` (the
commands of testbed/commands/lab_commands.py, e.g. `security-group blue app add inbound tcp 8080 sg:web`);
`#` starts a comment.  It is also what a student hands in when the work is done on a running lab."""
import os
import re
import shlex
from dataclasses import dataclass

import yaml

from testbed.errors import UsageError
from testbed.topology import TopologyError

LABS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'labs')
FOLDER = re.compile(r'(\d\d)-[a-z0-9-]+\Z')
TOPOLOGY_SUFFIXES = ('.yaml', '.yml')


@dataclass(frozen=True)
class Lab:
    name: str               # the folder's name: 01-journey
    path: str

    @property
    def topology(self):
        return os.path.join(self.path, 'topology.yaml')

    @property
    def checks(self):
        return os.path.join(self.path, 'checks.yaml')

    @property
    def readme(self):
        return os.path.join(self.path, 'README.md')

    @property
    def solution(self):
        """The solution's file: a topology (.yaml) or a commands file."""
        folder = os.path.join(self.path, 'solution')
        files = sorted(f for f in os.listdir(folder) if not f.startswith('.')) if os.path.isdir(folder) else []
        if len(files) != 1:
            raise UsageError(f'{folder}: a solution is one topology or commands file, found {len(files)}')
        return os.path.join(folder, files[0])

    @property
    def description(self):
        with open(self.readme, encoding='utf-8') as f:
            heading = next((line for line in f if line.startswith('# ')), '# (no heading)')
        return heading[2:].strip()


def labs(root=LABS_DIR):
    """Every lab, in number order."""
    if not os.path.isdir(root):
        return []
    return [Lab(name, os.path.join(root, name)) for name in sorted(os.listdir(root))
            if FOLDER.match(name) and os.path.isdir(os.path.join(root, name))]


def find(name, root=LABS_DIR):
    """The lab called `name`: its folder's name (01-journey), its number (01, 1) or the rest (journey)."""
    found = labs(root)
    for lab in found:
        number, _, rest = lab.name.partition('-')
        if name in (lab.name, number, rest) or (name.isdigit() and int(name) == int(number)):
            return lab
    raise UsageError(f'no lab {name!r}; labs are: {", ".join(lab.name for lab in found) or "(none)"}')


def is_topology(path):
    return str(path).endswith(TOPOLOGY_SUFFIXES)


@dataclass(frozen=True)
class Line:
    number: int
    command: str            # a name of lab_commands.COMMANDS
    words: str              # what follows it


def read_commands(path):
    """The commands of a commands file, checked by name and arguments before any runs (TopologyError:
    exit code 2, FILE:LINE)."""
    from testbed.commands.lab_commands import ALIASES, COMMANDS
    from testbed.topology.loader import read
    out = []
    for number, text in enumerate(read(str(path)).splitlines(), start=1):
        text = text.split('#', 1)[0].strip() if not text.lstrip().startswith('#') else ''
        if not text:
            continue
        words = shlex.split(text)
        if words[0] == 'vpclab':
            words = words[1:]
        name = ALIASES.get(words[0], words[0]) if words else ''
        if name not in COMMANDS or name == 'migrate':
            raise TopologyError(str(path), number, None, f'{words[0] if words else text!r} is no command of a running '
                                f'lab; use one of: {", ".join(c for c in COMMANDS if c != "migrate")}')
        line = Line(number, name, shlex.join(words[1:]))
        try:
            COMMANDS[name].parse(line.words)
        except UsageError as exc:
            raise TopologyError(str(path), number, None, str(exc)) from None
        out.append(line)
    return out


def apply_commands(lab, path):
    """Runs a commands file on a running lab (a Lab or a RunningLab); the output of each, in order."""
    from testbed.commands.lab_commands import COMMANDS
    said = []
    for line in read_commands(path):
        command = COMMANDS[line.command]
        try:
            said.append(command.run(lab, command.parse(line.words)))
        except UsageError as exc:
            raise UsageError(f'{path}:{line.number}: {exc}') from None
    return said


def set_groups(lab, topology):
    """Sets every security group of the running lab (a Lab or a RunningLab) that `topology` has too to what
    `topology` says: the lab's starting file (a reset), or a solution (the part of it a running lab takes);
    the one part of a lab that commands change.  Returns the groups set."""
    from testbed import security_groups
    from testbed.commands.firewall import to_file_form
    from testbed.fabric.firewall_config import security_groups as file_groups
    changed = []
    for vpc in topology.vpcs.values():
        running = lab.topology.vpcs.get(vpc.name)
        for group, rules in file_groups(vpc).items() if running is not None else ():
            if group in file_groups(running):
                security_groups.replace(lab.api, lab.topology, vpc.name, group,
                                        **{d: [to_file_form(r, d) for r in rules[d]] for d in rules})
                changed.append(f'{vpc.name}/{group}')
    return changed


def not_live(running, solution):
    """Where the topology file `solution` differs from `running` in what a running lab cannot take (all but
    the rules of security groups both have): key paths such as vpcs.blue.route_tables.private.routes."""
    from testbed.topology.loader import read
    docs = [yaml.safe_load(read(str(path))) or {} for path in (running, solution)]
    vpcs = [doc.get('vpcs') or {} for doc in docs]
    for name in set(vpcs[0]) & set(vpcs[1]):
        groups = [(v[name] or {}).get('security_groups') or {} for v in vpcs]
        for group in set(groups[0]) & set(groups[1]):
            groups[0].pop(group)
            groups[1].pop(group)
    return list(_differences(docs[0], docs[1], ''))


def _differences(a, b, path):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in dict.fromkeys([*a, *b]):
            yield from _differences(a.get(key), b.get(key), f'{path}.{key}' if path else str(key))
    elif a != b and not (path.endswith('.security_groups') and not a and not b):
        yield path
