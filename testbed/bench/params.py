"""`key=value` parameters of `vpclab run`, typed by each experiment's defaults."""

TRUE, FALSE = ('1', 'true', 'yes', 'on'), ('0', 'false', 'no', 'off')


class ParamError(ValueError):
    """A parameter a user wrote is wrong; the message says what would be right."""


def convert(key, text, default):
    """`text` read as the type of `default` (lists: comma-separated, typed by their first
    element, or numbers when the default list is empty)."""
    kind = type(default)
    try:
        if kind is bool:
            if text.lower() not in TRUE + FALSE:
                raise ValueError(text)
            return text.lower() in TRUE
        if kind in (list, tuple):
            element = default[0] if default else 0
            return [convert(key, item.strip(), element) for item in text.split(',') if item.strip()]
        if kind is float:
            return float(text)
        if kind is int:
            return int(text)
        return text
    except ValueError:
        example = ','.join(str(d) for d in default) if kind in (list, tuple) else default
        raise ParamError(f'{key}={text}: expected {_describe(default)}, like {key}={example}') from None


def _describe(default):
    if isinstance(default, bool):
        return 'on or off'
    if isinstance(default, (list, tuple)):
        return 'a comma-separated list'
    return {int: 'a whole number', float: 'a number'}.get(type(default), 'text')


def parse(pairs, defaults):
    """Defaults updated by `key=value` strings; one clear error for anything wrong."""
    params = dict(defaults)
    for pair in pairs:
        key, sep, text = pair.partition('=')
        if not sep or not key:
            raise ParamError(f'{pair!r} is not key=value; for example repeats=3')
        if key not in defaults:
            raise ParamError(f'unknown parameter {key!r}; this experiment takes: {", ".join(sorted(defaults))}')
        params[key] = convert(key, text, defaults[key])
    if params.get('repeats', 1) < 1:
        raise ParamError('repeats={}: run at least once'.format(params['repeats']))
    return params
