"""Post-hoc analyses of the runs: language bias, linguistic similarity, significance."""
