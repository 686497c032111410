"""The partner portal: partner users log in, confirm orders, upload documents and
work their leads in a browser. See docs/portal-and-signing.md."""
