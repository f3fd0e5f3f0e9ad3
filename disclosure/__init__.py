"""Disclosure control: suppression, rounding, differential privacy, budgets, guards, release reports.

Protects any ``AggregateTable``; never imports ``queries``.

Entry point: ``disclosure.pipeline.protect(tables, policy, context, stores) -> Release``.

Modules: ``policy`` (versioned constants and ``Policy``), ``structure`` (margin relations, person-set
fingerprints), ``guard`` (differencing guard on person sets), ``suppression`` (primary and secondary
suppression, attacker audit), ``lp`` (the HiGHS models behind both), ``noise`` (OpenDP noise keyed on
person sets), ``derived`` (shares and rates from released counts), ``report`` (auditor and customer
views), ``release`` (``ReleaseContext``, ``ProtectedTable``, ``Release``), ``errors``, ``stores``,
``table`` (the input contract).
"""
