-- Fleet health now: every machine's latest scored window (state, fault, ISO zone, velocity).
-- Machines in ALARM come first, then WARNING, then HEALTHY; within a state, highest velocity
-- first. States are the point-by-point model/rules states of the predictions table.
-- Reads predictions of the last :lookback_hours hours only (partition-pruned).
-- @param lookback_hours integer = 24 in [1, 876000] how far back to look for a machine's latest window
WITH params AS (
  SELECT CAST(to_unixtime(current_timestamp) * 1000 AS bigint) - CAST(:lookback_hours AS bigint) * 3600000 AS since_ms
),
bounds AS (
  -- The look-back start as partition values: the partition filters below compare the
  -- partition columns directly, so Athena prunes projected partitions before it lists S3.
  SELECT
    params.*,
    date_format(from_unixtime(params.since_ms / 1000), '%Y') AS since_year,
    date_format(from_unixtime(params.since_ms / 1000), '%m') AS since_month,
    date_format(from_unixtime(params.since_ms / 1000), '%d') AS since_day
  FROM params
),
latest AS (
  SELECT
    p.device_id,
    max(p.ts) AS last_ts,
    max_by(p.site, p.ts) AS site,
    max_by(p.state, p.ts) AS state,
    max_by(p.fault, p.ts) AS fault,
    max_by(p.fault_confidence, p.ts) AS fault_confidence,
    max_by(p.iso_zone, p.ts) AS iso_zone,
    max_by(p.velocity_rms_mm_s, p.ts) AS velocity_rms_mm_s,
    max_by(p.anomaly_score, p.ts) AS anomaly_score,
    max_by(p.degraded, p.ts) AS degraded
  FROM predictions AS p
  CROSS JOIN bounds AS b
  WHERE (p.year > b.since_year
      OR (p.year = b.since_year AND p.month > b.since_month)
      OR (p.year = b.since_year AND p.month = b.since_month AND p.day >= b.since_day))
    AND p.ts >= b.since_ms
  GROUP BY p.device_id
)
SELECT
  device_id,
  site,
  state,
  fault,
  fault_confidence,
  iso_zone,
  velocity_rms_mm_s,
  anomaly_score,
  degraded,
  from_unixtime(last_ts / 1000) AS last_seen_utc
FROM latest
ORDER BY
  CASE state WHEN 'ALARM' THEN 0 WHEN 'WARNING' THEN 1 ELSE 2 END,
  velocity_rms_mm_s DESC,
  device_id
