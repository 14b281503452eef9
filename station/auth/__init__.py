"""Users, roles, hashed passwords, per-user API tokens and login throttling."""
