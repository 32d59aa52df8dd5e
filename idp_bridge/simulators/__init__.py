"""Simulated upstream logins with their own keys (a FAS-like SAML IdP, an itsme-like OP).

On in demo mode, refused at start-up in production mode.
"""
