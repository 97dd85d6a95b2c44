"""Datasets: D4RL HDF5 I/O, maze2d generation, episodes, normalisers and training windows."""
