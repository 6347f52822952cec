"""Evaluation metrics: exact ones for 1-D data, feature-space ones for images."""
