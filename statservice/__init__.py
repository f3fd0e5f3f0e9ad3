"""The statservice HTTP service, auth, persistence, audit log and CLI: composes the other packages."""

__version__ = "0.1.0"
