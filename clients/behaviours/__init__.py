"""Every behaviour module; importing this package registers them all."""

from clients.behaviours import abrupt, basic, fragmented, load, malformed, slow

__all__ = ["abrupt", "basic", "fragmented", "load", "malformed", "slow"]
