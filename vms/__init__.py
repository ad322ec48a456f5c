"""The public-safety camera VMS core: config, clock, errors, database, catalog, ingest,
auth, audit and the ``vms`` command line.

Nothing happens at import time: engines, threads and loops are made by the functions
that need them (STYLE: no import-time side effects).
"""

__version__ = "0.1.0"
