-- Machines by ISO 10816-3 zone: how many machines are in zone A, B, C and D right now (each
-- machine counted once, by its latest window), which ones, and how many windows of the last
-- :lookback_hours hours fell in each zone (a machine hovering at a boundary shows in both).
-- Reads features (velocity RMS 10-1000 Hz and the zone for the asset's group and foundation).
-- Rows are de-duplicated by (device_id, ts, seq): a batch redelivered after a partial failure
-- can land a window twice (docs/architecture.md, "Exactly once where it counts").
-- @param lookback_hours integer = 24 in [1, 876000] how far back to look
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
copies AS (
  SELECT
    f.device_id, f.ts, f.iso_zone, f.velocity_rms_mm_s,
    row_number() OVER (PARTITION BY f.device_id, f.ts, f.seq ORDER BY f.received_at DESC) AS copy
  FROM features AS f
  CROSS JOIN bounds AS b
  WHERE (f.year > b.since_year
      OR (f.year = b.since_year AND f.month > b.since_month)
      OR (f.year = b.since_year AND f.month = b.since_month AND f.day >= b.since_day))
    AND f.ts >= b.since_ms
    AND f.iso_zone IS NOT NULL
),
windows AS (
  SELECT device_id, ts, iso_zone, velocity_rms_mm_s FROM copies WHERE copy = 1
),
latest AS (
  SELECT device_id, max_by(iso_zone, ts) AS iso_zone, max_by(velocity_rms_mm_s, ts) AS velocity_rms_mm_s
  FROM windows
  GROUP BY device_id
),
machines AS (
  SELECT
    iso_zone,
    count(*) AS machines,
    max(velocity_rms_mm_s) AS max_velocity_rms_mm_s,
    array_join(array_agg(device_id ORDER BY device_id), ', ') AS devices
  FROM latest
  GROUP BY iso_zone
),
zone_windows AS (
  SELECT iso_zone, count(*) AS windows
  FROM windows
  GROUP BY iso_zone
)
SELECT
  z.iso_zone,
  coalesce(m.machines, 0) AS machines,
  z.windows,
  m.max_velocity_rms_mm_s,
  m.devices
FROM zone_windows AS z
LEFT JOIN machines AS m ON m.iso_zone = z.iso_zone
ORDER BY z.iso_zone
