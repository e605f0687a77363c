"""The experiment framework: parameters, runs with repeats, result directories, plots
and regression runs (docs/experiments.md).  The experiments themselves live in
experiments/."""
