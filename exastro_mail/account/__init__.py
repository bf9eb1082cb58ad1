"""An account looks after itself: its own password, language and time zone."""
