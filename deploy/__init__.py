"""What a deployment runs besides the worker: versions, database and Temporal set-up."""
