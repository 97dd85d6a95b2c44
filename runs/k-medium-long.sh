# issue 13: is the K = 8 deficit on medium the policy's budget? K = 1 and K = 8, 3 seeds, the medium sweep's own
# tokenizers (stage 2 only, matched by stage-1 key from the k-medium-demo sweep, parent 7254c9e2...) and
# 3 x its stage-2 steps (24 epochs x 100 = 2,400 steps). Not run yet: about 2.5 h on the 2-core box.
bash runs/k-medium.sh --K 1 8 --set train.policy_epochs=24 --tokenizers-from 7254c9e2e1df4eaf8cdce379a6608636 \
  --storage /work/main/runs/ray_kdepth_medium_long --name k-medium-long "$@"
