"""Threat intelligence feeds (pure parsers): CISA KEV and FIRST EPSS.

The parsers read a feed file into small frozen dataclasses; `aiva.store.intel_store`
loads them into PostgreSQL and re-scores the findings whose intel changed.
"""

from aiva.intel.epss import EpssFeed, EpssScore, parse_epss
from aiva.intel.kev import KevEntry, KevFeed, parse_kev

__all__ = ["EpssFeed", "EpssScore", "KevEntry", "KevFeed", "parse_epss", "parse_kev"]
