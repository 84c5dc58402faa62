"""Training loops: what every trainer shares (resumable state, step logs) and the trainers."""
