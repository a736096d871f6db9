"""Tests of the non-geo tasks."""
