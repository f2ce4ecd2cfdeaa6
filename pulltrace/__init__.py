"""pulltrace: what happens on the wire when a container image is pulled."""

__version__ = "0.1.0"
