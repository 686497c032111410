"""The only SQL in partnerflow. `store.db` opens the asyncpg pool; the repository modules
take a connection and never import asyncpg, so activities stay importable anywhere."""
