"""Hydra configs (YAML) and the checks around them. Importing this package registers the `run_time` resolver
the run-folder patterns use (rundir.py)."""

from graphormer.configs.rundir import register_resolver

register_resolver()
