-- Anomalies per day: for each UTC day and machine, scored windows, anomalous windows (state
-- WARNING or ALARM), alarms, the anomaly rate and the mean anomaly score. Covers today and the
-- :days - 1 days before it; machine-days without anomalies are listed too (rate 0).
-- Reads predictions. Its partitions are by ARRIVAL time (the hour Firehose received a record),
-- so days here are taken from each window's own ts (the day the data describes); partitions
-- are pruned from the first day on, since a window arrives after it was measured.
-- Rows are de-duplicated by (device_id, ts, seq): a batch redelivered after a partial failure
-- can land a window twice (docs/architecture.md, "Exactly once where it counts").
-- @param days integer = 7 in [1, 36500] number of UTC days, today included
WITH params AS (
  SELECT CAST(to_unixtime(date_trunc('day', current_timestamp - (:days - 1) * INTERVAL '1' DAY)) * 1000 AS bigint) AS since_ms
),
bounds AS (
  -- The first day as partition values: the partition filter below compares the partition
  -- columns directly, so Athena prunes projected partitions before it lists S3.
  SELECT
    params.*,
    date_format(from_unixtime(params.since_ms / 1000), '%Y') AS since_year,
    date_format(from_unixtime(params.since_ms / 1000), '%m') AS since_month,
    date_format(from_unixtime(params.since_ms / 1000), '%d') AS since_day
  FROM params
),
copies AS (
  SELECT
    pr.*,
    row_number() OVER (PARTITION BY pr.device_id, pr.ts, pr.seq ORDER BY pr.scored_at DESC) AS copy
  FROM predictions AS pr
  CROSS JOIN bounds AS b
  WHERE (pr.year > b.since_year
      OR (pr.year = b.since_year AND pr.month > b.since_month)
      OR (pr.year = b.since_year AND pr.month = b.since_month AND pr.day >= b.since_day))
    AND pr.ts >= b.since_ms
)
SELECT
  date_format(from_unixtime(p.ts / 1000), '%Y-%m-%d') AS utc_date,
  p.device_id,
  count(*) AS windows,
  count_if(p.state <> 'HEALTHY') AS anomalies,
  count_if(p.state = 'ALARM') AS alarms,
  round(CAST(count_if(p.state <> 'HEALTHY') AS double) / count(*), 4) AS anomaly_rate,
  avg(p.anomaly_score) AS anomaly_score_mean
FROM copies AS p
WHERE p.copy = 1
GROUP BY 1, 2
ORDER BY utc_date DESC, anomalies DESC, p.device_id
