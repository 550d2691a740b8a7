"""Learned reconstructions: the networks, their data and samples, prompts, training task, architectures and
inference."""
