"""Running saves: configuration, the worker, the embedded dev server and the ``saves`` command."""
