"""Reports: rollup tables the event drain keeps, and the queries the dashboard reads from them.

A dashboard never scans raw events inside a request: the worker adds every scan and award it stores to
small rollup tables in the same transaction (rollups.py), forged attempts are counted in Redis beside
the invalid-code guard and collected into SQL by the worker (forged.py), and the dashboard's figures
are read from the rollups only (queries.py). `rebuild_rollups` derives the scan and award rollups
from the raw tables again, for a database that had events before it had rollups.
"""
