"""The one exception the recording package raises for anything a user can cause."""


class RecordingError(Exception):
    """``str(e)`` is one clear line for the user (no traceback needed)."""
