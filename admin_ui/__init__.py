"""The admin UI: GAPs, legal representatives and people managing access."""
