"""Streamed scoring of files of any size."""
