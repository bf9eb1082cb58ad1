"""The organization's menu."""
