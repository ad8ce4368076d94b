"""Errors shown to users: a clear message naming the file, the field and the fix, never a traceback."""


class InputError(Exception):
    """Bad user input (config, CSV, CLI argument). The CLI prints the message and exits with code 2."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None):
        self.file = file
        self.field = field
        where = ""
        if file:
            where += f"{file}: "
        if field:
            where += f"{field}: "
        super().__init__(where + message)
