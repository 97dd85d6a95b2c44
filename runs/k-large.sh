# issue 13: hierarchy depth K in {1, 2, 4, 8} x 3 seeds on maze2d-large: runs/k-medium.sh's recipe at large's plan
# horizon H = 384 (48 latent steps; later flags win). Not run yet: about 35-40 min per trial on one core, so two
# seeds fit one 3-hour session two at a time; `--resume` (or `--seeds 2` in a new sweep) for the third.
bash runs/k-medium.sh --datasets maze2d-large-v1 --set data.horizon=384 --set data.rtg_horizon=384 \
  --storage /work/main/runs/ray_kdepth_large --name k-large-demo "$@"
