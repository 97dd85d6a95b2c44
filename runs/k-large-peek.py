"""Print the large K sweep's finished evaluations from MLflow (K, seed, protocol, score, success, dwell)."""

import sqlite3

c = sqlite3.connect("runs/baselines.db")
q = """select r.run_uuid, r.start_time, r.end_time from runs r join experiments e on r.experiment_id = e.experiment_id
 join tags t on t.run_uuid = r.run_uuid and t.key = 'mage.dataset' and t.value = 'maze2d-large-v1'
 where e.name = 'mage-hierarchy-depth' order by r.start_time"""
for run, t0, t1 in c.execute(q).fetchall():
    tags = dict(c.execute("select key, value from tags where run_uuid = ?", (run,)).fetchall())
    m = dict(c.execute("select key, value from latest_metrics where run_uuid = ?", (run,)).fetchall())
    if "eval/norm_score" not in m:
        continue
    print(tags.get("mage.K"), tags.get("mage.seed"), tags.get("mage.acting"), tags.get("mage.hold"),
          f"score {m['eval/norm_score']:.1f} ± {m.get('eval/norm_score_ci95', float('nan')):.1f}",
          f"success {m.get('eval/success_rate', float('nan')):.2f} arrival {m.get('eval/first_arrival_median', float('nan')):.0f}",
          f"dwell {m.get('eval/dwell_mean', float('nan')):.2f} train_s {m.get('time/train_s', float('nan')):.0f}",
          f"wall {((t1 or 0) - t0) / 1000:.0f} s")
