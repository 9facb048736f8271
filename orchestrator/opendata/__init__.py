"""Open data from a challenge: the draft UK2 preliminary market engagement notice (uk2.py) and the
OCDS release package with our evaluation extension (ocds.py, extension/). Pure builders: they
read frozen facts (inputs.py) and the time they are given, never the database or the clock."""
