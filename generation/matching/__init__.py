"""Matching both videos of an item before anyone looks: policy.py (the policy and the common target it gives
two videos) and encodes.py (each side's content-addressed encode, made once by a media worker)."""
