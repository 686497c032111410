"""What ops filter on in the Temporal UI. Typed search attributes; never personal data."""

from temporalio.common import SearchAttributeKey

PROCESS_KIND = SearchAttributeKey.for_keyword("ProcessKind")
STAGE = SearchAttributeKey.for_keyword("Stage")
ACCOUNT_ID = SearchAttributeKey.for_keyword("AccountId")
PARTNER_ID = SearchAttributeKey.for_keyword("PartnerId")

ALL = (PROCESS_KIND, STAGE, ACCOUNT_ID, PARTNER_ID)
