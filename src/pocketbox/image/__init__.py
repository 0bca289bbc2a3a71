"""The image side: content-addressed store, layer unpacking, pulling, archives."""
