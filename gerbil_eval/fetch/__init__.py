"""Fetching answers: the OpenAI-compatible client, the on-disk response cache, recorded answers
(``--replay``) and the fetcher that runs every (model, case, sample) job before items assert.

May import: errors, fileio, safety/, run/ (a fetched answer is a run's ``Response``), and cases/
for types. Never scoring/, analysis/, render/, plugin/ or commands/. Internal: no public API.
"""
