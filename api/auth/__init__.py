"""Who is asking: bearer tokens for systems and feeds, session cookies for the dashboard."""
