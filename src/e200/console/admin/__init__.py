"""Console pages about who may do what: sign-in, the signed-in user's account and API keys, user
management and the audit log."""
