"""The one exception the recording package raises for anything a user can cause."""

from raytop.errors import RaytopError


class RecordingError(RaytopError):
    """``str(e)`` is one clear line for the user (no traceback needed)."""
