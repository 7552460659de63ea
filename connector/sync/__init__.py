"""The scheduled work: one sync run (pull, score, write back, record), its staged write-back,
the page prefetcher, retraining runs, the workspace they share, and the scheduler's jobs.

Sees CRMs only through `connector.crm.base.CRM`; adding a CRM never touches this package.
"""
