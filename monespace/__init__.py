"""Wiring: the Flask app factory, configuration and the ``monespace`` command line."""
