"""Evaluation: lockstep rollouts, score statistics, target returns and reference agents."""
