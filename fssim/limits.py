"""Bounds on user input shared by the scenario schema and the command line.

A module without dependencies, so that ``fssim --help`` shows the bounds without loading pydantic.
"""

#: Longest horizon: the calendar, holiday and rollout tables are built day by day.
MAX_HORIZON_YEARS = 50


MAX_HORIZON_DAYS = round(MAX_HORIZON_YEARS * 365.25)


#: More replications than this is a typo (confidence intervals are tight long before).
MAX_REPLICATIONS = 10_000
