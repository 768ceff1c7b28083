"""repalign.models."""
