"""Grading students' implementations (see exercises/README.md)."""
