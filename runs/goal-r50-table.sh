# the main table's MAGE-goal rows: runs/goal-r50.sh (R̂_0 = the 50th percentile) logged to mage-baselines
exec bash "$(dirname "$0")/goal-r50.sh" mage-baselines
