"""The core of batchops: the facts every other part reads, defined once.

This package is the bottom layer: it imports nothing of the project (a layering check in the test suite
enforces it). Modules:

- `settings`   the typed configuration of an environment (`env_files/<env>.tfvars`) and its defaults
- `contracts`  names shared across languages: steps, statuses, events, the SSM pointer, output files
- `metrics`    the metric registry: direction, threshold rule, computation, XGBoost names, display
- `results`    the structured result a deciding step writes and every reader parses
- `s3uri`      split and join s3:// URIs
- `gate_text`  how people read a gate's result: metric values, a classification summary's tables and text

`contracts`, `metrics`, `results` and `s3uri` are shipped to the step scripts and the Lambdas, `gate_text`
to the notification Lambda: they stay importable on Python 3.9 with the standard library only (numpy is imported
inside metric computations).
"""
