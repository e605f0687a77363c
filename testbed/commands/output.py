"""`-o table|json|csv` for every view: a view returns a Report (tables for people and for CSV, a
document for JSON, in the shape of `aws ec2 describe-*` where there is one) and render() writes it.

Tables are drawn by tabulate; a cell that holds a dict or a list is written `key=value, ...`, never
as a Python literal."""
import csv
import io
import json
from dataclasses import dataclass, field

from tabulate import tabulate

FORMATS = ('table', 'json', 'csv')


def output_argument(p):
    p.add_argument('-o', '--output', choices=FORMATS, default='table',
                   help='table (for people, the default), json (AWS CLI shapes) or csv')


@dataclass
class Table:
    """columns: header words; rows: tuples of cells; title: said above it (table) or as a # line (csv)."""
    columns: tuple
    rows: list
    title: str = ''
    empty: str = '(none)'


@dataclass
class Report:
    tables: list
    document: object = None
    lines: list = field(default_factory=list)     # said before the tables, in table output only

    def render(self, fmt='table'):
        if fmt == 'json':
            return json.dumps(self.document, indent=2, sort_keys=False, default=str)
        if fmt == 'csv':
            return '\n\n'.join(_csv(t, titled=len(self.tables) > 1).rstrip('\n') for t in self.tables)
        return '\n\n'.join([*(['\n'.join(self.lines)] if self.lines else []),
                            *(_table(t) for t in self.tables)])


def render(report, args):
    """A view's text in the format the command line asked for (-o; table if it has none)."""
    return report.render(getattr(args, 'output', None) or 'table')


def cell(value):
    """One cell as a person reads it: dicts as key=value, lists joined by commas, None as -."""
    if value is None or value == '' or value == [] or value == {}:
        return '-'
    if isinstance(value, dict):
        return ', '.join(f'{k}={cell(v)}' for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ', '.join(cell(v) for v in value)
    return str(value)


def _table(t):
    head = f'{t.title}:\n' if t.title else ''
    if not t.rows:
        return f'{head}{t.empty}'
    return head + tabulate([[cell(c) for c in row] for row in t.rows], headers=list(t.columns),
                           tablefmt='simple', disable_numparse=True)


def _csv(t, titled):
    out = io.StringIO()
    if titled and t.title:
        out.write(f'# {t.title}\n')
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(t.columns)
    writer.writerows([cell(c) if isinstance(c, (dict, list, tuple)) or c is None else c for c in row]
                     for row in t.rows)
    return out.getvalue()
