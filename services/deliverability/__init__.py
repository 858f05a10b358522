"""Deliverability: windowed counts and ratios of what happens to e-mail after it is sent,
per sending domain and provider, from the event log (a faust-streaming app)."""
