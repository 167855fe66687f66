"""Reminder schedules: pure next-occurrence maths (``schedule``) and, later, the due sweep."""
