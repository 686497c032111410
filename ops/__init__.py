"""Jobs ops run beside the workers (reconciliation)."""
