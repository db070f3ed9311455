"""The channel: distributors and stores, 出库 / 入库 of cases, 窜货 judgement, the redemption lookup, voucher
核销 with store settlement, and B-side rewards. Pure domain: takes a session or a Redis client, never Flask."""
