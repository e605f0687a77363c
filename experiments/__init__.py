"""Experiments of `vpclab run`: one module each (docs/experiments.md says what a module
defines).  A new capability adds its own module here."""
import importlib
import pkgutil


class UnknownExperiment(LookupError):
    pass


def names():
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith('_'))


def get(name):
    if name not in names():
        raise UnknownExperiment(f'no experiment named {name!r}; `vpclab run --list` shows: {", ".join(names())}')
    return importlib.import_module(f'{__name__}.{name}')
