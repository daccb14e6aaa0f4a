"""Training-time regularizers (OptiMAG, DAGR) as plug-ins."""
