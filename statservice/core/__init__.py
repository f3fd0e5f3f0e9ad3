"""Settings, errors and security primitives shared by the API, the CLI and the release path."""
