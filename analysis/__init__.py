"""Reports over the MLflow store (tables, plots); they read through mage.tracking.query, never model code."""
