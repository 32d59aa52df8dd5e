"""One module per ``monespace`` sub-command (group), each exposing a click command."""
