"""AIVA: a security-findings integration hub. The pure, typed domain package."""

__version__ = "0.1.0"
