"""Ray Tune sweeps over MAGE: one thin script per sweep over the shared driver (`sweeps/driver/`)."""
