"""The commands, one module each: ``run``, ``attach``, ``record``, ``replay``, ``report``,
``export``, ``probe``, ``doctor``. Each defines ``command`` (a click command) and the function that
does the work; ``common`` holds the wiring several of them share and ``status_line`` the one-line
status of the headless commands. Errors the user can act on are ``raytop.errors.RaytopError``."""
