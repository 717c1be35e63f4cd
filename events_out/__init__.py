"""Events out: every domain event of every order, from the read model's outbox to whoever subscribes."""
