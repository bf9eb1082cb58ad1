"""Mail sending server settings: the rules, the page, the delete dialog and the store."""
