"""The customer signing page (issue 12): built by the signing helper; a placeholder router
here so that the portal runs without it."""

from fastapi import APIRouter

router = APIRouter()
