"""Learned reconstructions: networks, their data and samples, prompts, training task, architectures, inference."""
