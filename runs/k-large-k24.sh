# issue 13: the other two depths of the large K study (K = 1 and 8 ran first: runs/k-large-k18.log). Same recipe,
# same experiment; analysis/hierarchy_depth.py reads both sweeps by the dataset tag.
bash runs/k-large.sh --K 2 4 --name k-large-demo-k24 "$@"
