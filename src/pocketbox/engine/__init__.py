"""The engine: the Python API that the CLI (and later an API server) calls.

It returns data and raises PocketboxError subclasses; it never prints."""
