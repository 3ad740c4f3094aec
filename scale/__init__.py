"""The real-model calculator: total vs active parameters, FLOPs and memory of real models, read from
their Hugging Face config.json (architectures.py), named presets with the figures their authors
published (presets.py) and the report the Scale tab and the CLI show (report.py).

Counting itself is models/params.py, the same code that counts the zoo. Never imports torch modules,
the page or the backend. CLI: `python -m scale <config.json or preset> [--json]`.
"""
