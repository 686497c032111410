"""The staff command line, one module per process; starter.py puts them together."""
