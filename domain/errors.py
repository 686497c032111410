class Refused(Exception):
    """A business refusal: the message tells a person what to do. Never retried."""
