"""Upstream logins: each module proves who a person is and returns a VerifiedIdentity."""
