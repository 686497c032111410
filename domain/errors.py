class Refused(Exception):
    """A business refusal: the message tells a person what to do. Never retried."""


# The ApplicationError type a refusal travels under, from activity to workflow to starter.
REFUSED = "Refused"
