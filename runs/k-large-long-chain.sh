# issue 14, 2026-11-30 (session 12): seed 2 of runs/k-large-long.sh once seeds 0 and 1 (k-large-long-s01) end.
while pgrep -f "name k-large-long-s01" > /dev/null; do sleep 30; done
bash runs/k-large-long.sh --seeds 2 --max-concurrent 1 --name k-large-long-s2
