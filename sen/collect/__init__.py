"""Sen's event collector: the Segment HTTP Tracking API, landing events in the folder the events ingestion reads.

Start it with ``sen collect`` or ``python -m sen.collect``; see docs/collect.md.
"""
