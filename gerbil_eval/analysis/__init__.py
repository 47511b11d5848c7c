"""Analysis of finished runs: statistics, per-model totals, the paired comparison of two models,
release gates, and contamination of cases by training data.

May import: errors, safety/, run/, execution.runinfo (runs with and without execution do not
compare). Never plugin/ (nor its options), render/, fetch/ or commands/. Internal: no public API.
"""
