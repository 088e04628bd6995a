"""Report writers: HTML, PDF, JSON, CSV, SARIF (and more), from one report input.

Writers are pure over their input (`aiva.reports.model`): the report activity
fetches the run's findings from the store into a JSON Lines file, then the writers
stream from it. Scanner text is attacker-controlled: every writer escapes it.
"""
