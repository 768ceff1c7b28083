"""repalign.data."""
