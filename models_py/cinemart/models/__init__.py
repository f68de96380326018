"""Every model behind one protocol (`base.FactorModel`: fit -> `base.Factors`), and the thread budget they share."""
