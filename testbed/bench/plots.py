"""Plot helpers: every figure is drawn from saved data and written as PNG and SVG."""
import os

import matplotlib

matplotlib.use('Agg')       # no display on lab machines
import matplotlib.pyplot as plt  # noqa: E402


def figure(width=6.4, height=4.0):
    return plt.subplots(figsize=(width, height))


def cdf(ax, values, label):
    values = sorted(values)
    if values:
        n = len(values)
        ax.step(values, [(i + 1) / n for i in range(n)], where='post', label=f'{label} (n={n})')


def save(fig, directory, name):
    """Writes NAME.png and NAME.svg; returns their paths."""
    fig.tight_layout()
    paths = [os.path.join(directory, f'{name}.{ext}') for ext in ('png', 'svg')]
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths
