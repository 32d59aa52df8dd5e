"""Authorization core: the mandate model, the policy engine and the mandate services.

Nothing in this package imports Flask except ``authz.api`` (the HTTP edge).
"""
