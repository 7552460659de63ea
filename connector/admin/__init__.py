"""What an admin runs by hand: check, suggest, status, the demo, starter files and the report.

Sits above the sync engine (it may start a sync or a retraining) and below the CLI, which is the
only layer that turns these functions' errors into a line and an exit code.
"""
