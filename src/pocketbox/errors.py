"""Errors the engine raises: each carries a one-line message and the exit code the CLI returns.

Docker's conventions: 125 for the runtime's own errors, 126 when the command cannot be
invoked, 127 when it cannot be found."""


class PocketboxError(Exception):
    """A failure pocketbox reports as one line on stderr and exit status `exit_code`."""

    exit_code = 125

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class NotRootError(PocketboxError):
    pass


class InvalidReference(PocketboxError):
    pass


class RegistryError(PocketboxError):
    pass


class NotFound(PocketboxError):
    """No such container, image, network or volume: Docker's CLI exits 1 (`run` makes it 125)."""

    exit_code = 1


class Conflict(PocketboxError):
    pass


class LayerError(PocketboxError):
    """A layer could not be unpacked safely (hostile or corrupt archive)."""


class DigestMismatch(PocketboxError):
    pass
