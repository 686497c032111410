"""Pure business rules and the models that carry them. No I/O, no clock: callers pass `today`."""
