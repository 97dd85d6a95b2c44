"""Diffusion planners written here (not wrapped): Diffuser, Hierarchical Diffuser (HD), Decision Diffuser (DD).

- ``unet``: the temporal U-Net (step embedding; DD's condition embedding with dropout).
- ``gaussian``: the DDPM: cosine schedule, x0 or noise prediction, inpainting, classifier-free guidance.
- ``diffuser`` / ``hierarchical`` / ``decision``: the three planners over that one U-Net and DDPM.
- ``configs``: their typed configs, every default with its source; ``batches``: normalisers and windows.
- ``train``: one trainer for the three (``train_diffusion``); ``checkpoint``: the saved directory.
- ``agent``: the batched ``Agent`` / ``StatePlanner`` (replanning, Diffuser's waypoint rule).

Sources, deviations and measurements: docs/baselines.md. Importing this package imports no torch;
its modules do.
"""
