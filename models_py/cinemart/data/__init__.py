"""The data: getting MovieLens onto disk (releases, safe fetch, layouts, preflight,
synthetic sets), and the split ratings as arrays the models train on."""
