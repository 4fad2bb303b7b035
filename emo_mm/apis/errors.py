"""The one exception type the tools turn into a one-line message and exit code 2."""


class ToolError(Exception):
    """Bad user input (missing file, unknown config key, ...): report it, no traceback."""
