"""``popcorn-harness bench``: what Popcorn costs, measured in the guests, with statistics and plots."""
