"""Accounts: users, their roles per brand, personal API tokens and the append-only audit log.

Pure domain code (SQLAlchemy sessions in, dataclasses out); the web layer (app/auth.py) turns a session
cookie or a Bearer token into a `Principal` and asks it what the caller may see and do.
"""
