"""All side effects, as thin `@activity.defn` methods over the domain code.

Each group is a class whose dependencies (pool, HTTP client, settings) are
injected by `worker.py`, the composition root.
"""
