"""landscape package."""
