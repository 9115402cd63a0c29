"""The Faust app and its stream processors: thin, they call hub/ rules."""
