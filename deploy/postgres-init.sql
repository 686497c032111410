-- First start of the PostgreSQL container: the application database beside Temporal's.
CREATE USER partnerflow WITH PASSWORD 'partnerflow';
CREATE DATABASE partnerflow OWNER partnerflow;
