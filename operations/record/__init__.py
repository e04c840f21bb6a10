"""What a run leaves behind: manifest, report timeline, version probes."""
