"""How CLASSOUND calls are billed, per licence type: Essential, Premium and Business
include free minutes per user and month; with Basic every call is billed per minute."""

from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain.catalogue import LicenceType

FREE_MINUTES_PER_USER = 3000


class BillingPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    licence_type: LicenceType
    plan: Literal["free-minutes", "per-minute"]
    free_minutes_per_user: int = 0

    def __str__(self) -> str:
        if self.plan == "per-minute":
            return f"{self.licence_type.value}: calls billed per minute"
        return (
            f"{self.licence_type.value}: {self.free_minutes_per_user:,} free minutes per "
            "user per month"
        )


def billing_plan(licence: LicenceType) -> BillingPlan:
    """Essential, Premium and Business include 3,000 free minutes per user and month; with
    Basic every call is billed per minute."""
    if licence == LicenceType.BASIC:
        return BillingPlan(licence_type=licence, plan="per-minute")
    return BillingPlan(
        licence_type=licence, plan="free-minutes", free_minutes_per_user=FREE_MINUTES_PER_USER
    )
