"""actionlog: the event-sourced Content Actions Log."""

__version__ = "0.1.0"
