"""One module per ``cdn`` subcommand.

Each module defines ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed arguments, returning an exit status). Modules
are discovered by name, so a new command is one new file. Keep imports at module
level light: every command module is imported to build ``cdn --help``.
"""
