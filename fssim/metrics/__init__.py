"""Metrics: from visit records to KPI tables.

In: the visits and sessions of a run. Out: KPI tables by network, site, démarche, weekday, hour and month
(``tables``), every KPI defined once in the registry (``kpis``: name, labels, unit, formula from sums,
direction, aggregation), and the Student-t summary across replications (``intervals``).
"""
