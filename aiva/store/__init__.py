"""The PostgreSQL store (asyncpg): migrations, bulk ingest, lifecycle reconciliation, reads.

All writes are set-based (COPY into staging, then INSERT ... SELECT / UPDATE ... FROM)
and keyed by the run and the step, so a retried activity never writes twice.
"""
