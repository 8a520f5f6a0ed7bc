-- Data freshness per device: the latest window each device sent in the last :lookback_days
-- days, how long ago that was, the ingest lag (IoT Core receipt minus window start) and when the
-- device was last scored. status is STALE when nothing arrived for :stale_minutes minutes.
-- A device silent for longer than the look-back does not appear: widen it to find those.
-- Reads features and predictions.
-- @param lookback_days integer = 2 how many days back to look
-- @param stale_minutes integer = 60 silence after which a device is STALE
WITH params AS (
  SELECT
    CAST(to_unixtime(current_timestamp) * 1000 AS bigint) AS now_ms,
    CAST(to_unixtime(current_timestamp) * 1000 AS bigint) - CAST(:lookback_days AS bigint) * 86400000 AS since_ms,
    :stale_minutes AS stale_minutes
),
f AS (
  SELECT
    ft.device_id,
    max(ft.ts) AS last_ts,
    max_by(ft.site, ft.ts) AS site,
    max_by(ft.received_at - ft.ts, ft.ts) AS last_ingest_lag_ms,
    count(*) AS windows
  FROM features AS ft
  CROSS JOIN params
  WHERE concat(ft.year, ft.month, ft.day, ft.hour) >= date_format(from_unixtime(params.since_ms / 1000), '%Y%m%d%H')
    AND ft.ts >= params.since_ms
  GROUP BY ft.device_id
),
p AS (
  SELECT pr.device_id, max(pr.ts) AS last_scored_ts
  FROM predictions AS pr
  CROSS JOIN params
  WHERE concat(pr.year, pr.month, pr.day, pr.hour) >= date_format(from_unixtime(params.since_ms / 1000), '%Y%m%d%H')
    AND pr.ts >= params.since_ms
  GROUP BY pr.device_id
)
SELECT
  f.device_id,
  f.site,
  f.windows,
  f.last_ts,
  from_unixtime(f.last_ts / 1000) AS last_seen_utc,
  round((params.now_ms - f.last_ts) / 60000.0, 1) AS age_minutes,
  f.last_ingest_lag_ms,
  p.last_scored_ts,
  CASE WHEN params.now_ms - f.last_ts > params.stale_minutes * 60000 THEN 'STALE' ELSE 'OK' END AS status
FROM f
CROSS JOIN params
LEFT JOIN p ON p.device_id = f.device_id
ORDER BY age_minutes DESC, f.device_id
