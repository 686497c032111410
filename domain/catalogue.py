"""What can be sold on a PBX: licences, hardware, services and CLASSOUND-FLATs."""

from enum import StrEnum


class LicenceType(StrEnum):
    BASIC = "Basic"
    ESSENTIAL = "Essential"
    PREMIUM = "Premium"
    BUSINESS = "Business"


class ProductKind(StrEnum):
    LICENCE = "licence"
    CAPEX = "capex"  # hardware, bought outright
    SERVICE = "service"
    CLASSOUND_FLAT = "classound_flat"  # one flat per licence seat, linked to a licence type


KIND_IN_WORDS = {
    ProductKind.LICENCE: "a licence",
    ProductKind.CAPEX: "hardware (capex)",
    ProductKind.SERVICE: "a service",
    ProductKind.CLASSOUND_FLAT: "a CLASSOUND-FLAT",
}

# Licence SKUs are the licence type names themselves, so `Premium=12` reads as it is said.
LICENCE_SKUS = {t.value: t for t in LicenceType}
