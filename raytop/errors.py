"""The one error type raytop shows to its user.

A ``RaytopError`` is something the user can act on — a missing file, a bad address, an output
that exists, a driver raytop may not trace — said in one line. ``raytop.cli.main`` catches it
alone, prints ``raytop: <message>`` and exits with its ``exit_code``. Any other exception is a
bug in raytop and ends with a traceback, never disguised as the user's mistake. Standard library
only: the probe, loaded into a job's driver, imports modules that raise these.
"""

from __future__ import annotations

from pathlib import Path

EXIT_BAD_INPUT = 2


class RaytopError(Exception):
    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class BadInput(RaytopError):
    """An option value, file or address raytop cannot use."""


class OutputExists(BadInput):
    """An output that exists, and no ``--force``."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(f"{path} exists; pass --force to overwrite it")
