"""What the upstream logins, the simulators and the OpenID provider share: the one internal
identity, the stores of pending logins and used assertions, HTTP transport, nested JWTs and
client assertions, remote JWK Sets, and the self-signed key pairs of the demo."""
