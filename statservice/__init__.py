"""The statservice HTTP service, auth, persistence, audit log and CLI: composes the other packages."""
