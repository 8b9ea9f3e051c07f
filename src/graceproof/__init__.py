"""graceproof: prove that pods terminate without dropping requests."""

__version__ = "0.1.0"
