"""The deploy: its steps, the plan, the switch and the proxy (a new switch strategy goes
here), the watch window, releases and their history, the deploy lock."""
