-- Data freshness per device: the latest window each device sent in the last :lookback_days
-- days (last_seen_utc, the window's start in UTC), how long ago that was (age_minutes), the
-- ingest lag (IoT Core receipt minus window start, ms) and the latest window scored
-- (last_scored_utc). status is STALE when nothing arrived for :stale_minutes minutes.
-- A device silent for longer than the look-back does not appear: widen it to find those.
-- Reads features and predictions.
-- Rows are de-duplicated by (device_id, ts, seq): a batch redelivered after a partial failure
-- can land a window twice (docs/architecture.md, "Exactly once where it counts").
-- @param lookback_days integer = 2 in [1, 36500] how many days back to look
-- @param stale_minutes integer = 60 in [1, 20160] silence after which a device is STALE
WITH params AS (
  SELECT
    CAST(to_unixtime(current_timestamp) * 1000 AS bigint) AS now_ms,
    CAST(to_unixtime(current_timestamp) * 1000 AS bigint) - CAST(:lookback_days AS bigint) * 86400000 AS since_ms,
    :stale_minutes AS stale_minutes
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
f AS (
  SELECT
    ft.device_id,
    max(ft.ts) AS last_ts,
    max_by(ft.site, ft.ts) AS site,
    max_by(ft.received_at - ft.ts, ft.ts) AS last_ingest_lag_ms,
    count(*) AS windows
  FROM (
    SELECT
      f0.*,
      row_number() OVER (PARTITION BY f0.device_id, f0.ts, f0.seq ORDER BY f0.received_at DESC) AS copy
    FROM features AS f0
    CROSS JOIN bounds AS b
    WHERE (f0.year > b.since_year
        OR (f0.year = b.since_year AND f0.month > b.since_month)
        OR (f0.year = b.since_year AND f0.month = b.since_month AND f0.day >= b.since_day))
      AND f0.ts >= b.since_ms
  ) AS ft
  WHERE ft.copy = 1
  GROUP BY ft.device_id
),
p AS (
  SELECT pr.device_id, max(pr.ts) AS last_scored_ts
  FROM predictions AS pr
  CROSS JOIN bounds AS b
  WHERE (pr.year > b.since_year
      OR (pr.year = b.since_year AND pr.month > b.since_month)
      OR (pr.year = b.since_year AND pr.month = b.since_month AND pr.day >= b.since_day))
    AND pr.ts >= b.since_ms
  GROUP BY pr.device_id
)
SELECT
  f.device_id,
  f.site,
  f.windows,
  from_unixtime(f.last_ts / 1000) AS last_seen_utc,
  round((params.now_ms - f.last_ts) / 60000.0, 1) AS age_minutes,
  f.last_ingest_lag_ms,
  from_unixtime(p.last_scored_ts / 1000) AS last_scored_utc,
  CASE WHEN params.now_ms - f.last_ts > params.stale_minutes * 60000 THEN 'STALE' ELSE 'OK' END AS status
FROM f
CROSS JOIN params
LEFT JOIN p ON p.device_id = f.device_id
ORDER BY age_minutes DESC, f.device_id
