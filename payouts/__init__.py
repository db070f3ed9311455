"""Money out: claims, the member points ledger, and payouts through a provider (WeChat Pay or the fake).

A valid award in SQL is the only thing that can become a payout. A payout is a state machine with a
deterministic bill number (award id + attempt); an unclear provider answer is always queried, never
retried under a new number. Pure domain code: it takes a session, a Redis client and a provider; it never
imports Flask or `app/`.
"""
