"""The low-level runtime: executes one OCI bundle (config.json + rootfs), like runc.

It knows nothing of images, names or the CLI; the engine hands it a bundle."""
