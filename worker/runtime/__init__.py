"""Where a worker runs: settings, the Temporal connection, logs, the worker itself and the save client."""
