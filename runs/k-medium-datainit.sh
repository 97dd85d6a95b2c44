# issue 14, 2026-11-30 (session 13): runs/k-large-datainit.sh's K = 1 recipe (fixed stage 1, data-init codebook) on
# maze2d-medium at its plan horizon H = 256 (later flags win). Ran side by side with the large one.
bash runs/k-large-datainit.sh --datasets maze2d-medium-v1 --set data.horizon=256 --set data.rtg_horizon=256 \
  --storage /work/main/runs/ray_kdepth_medium_datainit --name k-medium-datainit "$@"
