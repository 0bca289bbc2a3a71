"""pocketbox: a small, readable Linux container runtime (CLI -> engine -> runtime)."""

__version__ = "0.1.0"
