"""Classical reconstructions: zero-filled, SENSE, compressed sensing, k-t (TV, L+S); SigPy or BART, ESPIRiT maps."""
