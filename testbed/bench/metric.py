"""What a metric means and how much it may move before a regression run fails."""
from collections import namedtuple

# better: 'higher' or 'lower'; tolerance: the relative change of the ratio allowed in the
# worse direction (0.3 = 30 %); what: one line for tables and summaries.
Metric = namedtuple('Metric', 'better tolerance what')
