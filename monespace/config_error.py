"""The one error of the configuration (``monespace.config``), shown as one line at start-up."""


class ConfigError(Exception):
    """A setting is missing or unsafe; the message says which and what to do."""
