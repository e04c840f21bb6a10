"""Preflight facts (host, compose) and the rules that judge them."""
