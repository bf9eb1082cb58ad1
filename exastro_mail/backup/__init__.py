"""Moving an install between engines (export and import) and backing up an SQLite file."""
