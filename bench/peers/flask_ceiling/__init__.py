"""Peer (b) of the benchmark: the practical ceiling, a bare Flask app with no database."""
