"""The only MLflow code inside `mage/`: store defaults, run logging, queries."""
