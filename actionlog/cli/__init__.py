"""The ``actionlog`` command line (entry point `actionlog.cli.main.main`)."""
