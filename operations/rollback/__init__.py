"""The rollback: cutover time, export, backup, confirmation, notification."""
