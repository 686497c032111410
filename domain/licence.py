"""The cascade when licences are reduced: the CLASSOUND-FLAT of each
removed licence is cancelled at once; its DIDs are not, customer care cancels them."""

from datetime import date

from pydantic import BaseModel, ConfigDict


class FlatSeat(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    start_date: date
    dids: list[str] = []


class Cascade(BaseModel):
    cancelled_flats: list[int]
    dids_to_cancel: list[str]


def reduction_cascade(active_flats: list[FlatSeat], licences_left: int) -> Cascade:
    """Every licence seat carries at most one flat, so flats beyond the seats left are
    cancelled, the most recently started first (the newest seats are the ones removed)."""
    excess = max(0, len(active_flats) - max(0, licences_left))
    newest_first = sorted(active_flats, key=lambda f: (f.start_date, f.id), reverse=True)
    cancelled = newest_first[:excess]
    return Cascade(
        cancelled_flats=sorted(f.id for f in cancelled),
        dids_to_cancel=sorted(d for f in cancelled for d in f.dids),
    )
