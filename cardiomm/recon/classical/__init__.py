"""Classical reconstructions: zero-filled, SENSE, compressed sensing, k-t (TV, L+S), on SigPy or BART, with ESPIRiT
maps."""
