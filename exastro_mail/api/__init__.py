"""The JSON API: settings (Exastro-compatible) and notifications, with Basic or Bearer auth."""
