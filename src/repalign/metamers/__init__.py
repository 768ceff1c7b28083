"""repalign.metamers."""
