"""Disclosure control: suppression, rounding, differential privacy, budgets, guards, release reports.

Protects any ``AggregateTable``; never imports ``queries``.
"""
