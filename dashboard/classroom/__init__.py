"""Classroom mode: scenarios, the presenter view, and students taking part."""
