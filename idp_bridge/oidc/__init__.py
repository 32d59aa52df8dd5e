"""The OpenID Connect provider facing relying parties: pyop wrapped, with what it lacks added."""
