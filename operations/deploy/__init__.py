"""The deploy: its steps, the deploy lock (a new switch strategy goes here)."""
