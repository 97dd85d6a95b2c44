# the main table's MAGE-goal rows at the default R̂_0 (100th percentile), since superseded by runs/goal-r50-table.sh
exec bash "$(dirname "$0")/goal-r50.sh" mage-baselines ""
