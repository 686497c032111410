"""Logs and metrics: what ops see of every partnerflow process."""
