"""Faust agents: thin loops that decode nothing themselves and call the stages in streams.pipeline."""
