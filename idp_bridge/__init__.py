"""The OpenID Connect provider facing relying parties, and the upstream logins (eID, itsme)."""
