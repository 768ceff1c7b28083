"""The stages of a study. Each module has ``expand(planner)``, which plans its units, and
``run(unit, ctx, inputs) -> UnitOutput``, which computes one of them by calling the public API."""
