"""The one exception type for problems a user can fix."""


class TextgenError(Exception):
    """A user-facing error: its message is a sentence a non-programmer can act on."""
