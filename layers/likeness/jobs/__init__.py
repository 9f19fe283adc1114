"""One job record for every surface: what was asked, its state, outputs, cost and timings."""
