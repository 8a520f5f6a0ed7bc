-- Alert history: every change of a machine's point-by-point state (HEALTHY / WARNING / ALARM)
-- in the last :days days, newest first, with the fault, ISO zone and velocity at the change.
-- A recovery (ALARM -> HEALTHY) is listed like any other change. The first window of the
-- period has no predecessor and is not a change.
-- Reads predictions.
-- Rows are de-duplicated by (device_id, ts, seq): a batch redelivered after a partial failure
-- can land a window twice (docs/architecture.md, "Exactly once where it counts").
-- @param days integer = 30 in [1, 36500] how many days back from now
WITH params AS (
  SELECT CAST(to_unixtime(current_timestamp) * 1000 AS bigint) - CAST(:days AS bigint) * 86400000 AS since_ms
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
),
ordered AS (
  SELECT
    p.device_id,
    p.site,
    p.ts,
    p.state,
    p.fault,
    p.iso_zone,
    p.velocity_rms_mm_s,
    p.anomaly_score,
    lag(p.state) OVER (PARTITION BY p.device_id ORDER BY p.ts, p.seq) AS previous_state
  FROM copies AS p
  WHERE p.copy = 1
)
SELECT
  device_id,
  site,
  from_unixtime(ts / 1000) AS changed_at_utc,
  previous_state,
  state,
  fault,
  iso_zone,
  velocity_rms_mm_s,
  anomaly_score
FROM ordered
WHERE previous_state IS NOT NULL AND state <> previous_state
ORDER BY changed_at_utc DESC, device_id
