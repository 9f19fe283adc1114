"""Accounts, API keys, groups, plans and credits."""
