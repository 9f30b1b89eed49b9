"""Early stopping (Study.early_stop): an item is handed out no more once its outcome is decided.

Decided means: on every question, the leading choice is ahead of every other choice by more than the
votes still to come (the item's raters minus its votes so far), so no way the rest could vote changes
which choice has the most votes. With 5 raters and a forced choice, 3 agreeing votes decide. Given the
raters who voted, the outcome is then exactly what the full protocol would give. Assignments already
leased when it happens are still accepted; no item ever gets more than its raters.
"""

from analysis.outcomes import outcome_decided

__all__ = ["outcome_decided"]
