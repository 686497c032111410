class Refused(Exception):
    """A business refusal: the message tells a person what to do. Never retried."""


class NotPermitted(Refused):
    """Refused by the people directory: this actor may not do this step here."""


# The ApplicationError types a refusal travels under, from activity to workflow to starter.
REFUSED = "Refused"
NOT_PERMITTED = "NotPermitted"
