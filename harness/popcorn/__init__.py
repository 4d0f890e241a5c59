"""Popcorn-specific layers: ABI profiles, detection, and bringing the message-layer mesh up."""
