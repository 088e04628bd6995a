"""Everything that talks to Temporal as a client: the CLI, the Python API, the dev services."""
