# issue 14, 2026-11-30 (session 14): K = 8 on maze2d-medium with both stage-1 fixes (the restart rule of 2532601,
# now the default, and tokenizer.codebook_init=data), so K = 8 and K = 1 (runs/k-medium-datainit.sh) are
# compared under the same tokenizer recipe. Otherwise the k-medium-demo sweep's recipe (demo, H = 256,
# 400 + 800 steps, R / track and R / track + hold), seeds 0 1 2 one at a time beside the hopper SAC run.
bash runs/k-large-datainit.sh --K 8 --datasets maze2d-medium-v1 --set data.horizon=256 --set data.rtg_horizon=256 \
  --storage /work/main/runs/ray_kdepth_k8_medium_datainit --name k8-medium-datainit "$@"
