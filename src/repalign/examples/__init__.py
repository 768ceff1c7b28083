"""Example study configurations shipped with repalign (``quickstart.toml`` runs the demo)."""
