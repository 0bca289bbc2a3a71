"""How Docker prints things (sizes, durations, tables, Go templates): shared by the CLI and the API."""
