"""``kern.model``: an alias of :mod:`kern.models`, so that programs importing
``agno.model.google`` (as one of Agno's own background-execution pages does) run unchanged
with ``kern`` in the import."""
