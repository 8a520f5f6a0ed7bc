-- A machine's vibration trend: one row per UTC day with window count, mean / p95 / max velocity
-- RMS (mm/s), the worst ISO zone and mean temperature, plus the least-squares slope of velocity
-- RMS over the whole period in mm/s per day (null with fewer than two distinct times).
-- A steadily positive slope on a machine still in zone B is the early warning to act on.
-- p95 is Athena's approx_percentile (approximate by design).
-- @param device_id string the machine (thing name)
-- @param days integer = 30 how many days back from now
WITH params AS (
  SELECT
    :device_id AS device_id,
    CAST(to_unixtime(current_timestamp) * 1000 AS bigint) - CAST(:days AS bigint) * 86400000 AS since_ms
),
w AS (
  SELECT f.year, f.month, f.day, f.ts, f.velocity_rms_mm_s, f.iso_zone, f.temperature_c
  FROM features AS f
  CROSS JOIN params
  WHERE f.device_id = params.device_id
    AND concat(f.year, f.month, f.day, f.hour) >= date_format(from_unixtime(params.since_ms / 1000), '%Y%m%d%H')
    AND f.ts >= params.since_ms
    AND f.velocity_rms_mm_s IS NOT NULL
),
fit AS (
  -- regr_slope is NaN on some engines and NULL on others when time does not vary: guard it.
  SELECT
    CASE WHEN max(ts) > min(ts) THEN regr_slope(velocity_rms_mm_s, ts / 86400000.0) END AS slope_mm_s_per_day
  FROM w
)
SELECT
  concat(w.year, '-', w.month, '-', w.day) AS utc_date,
  count(*) AS windows,
  avg(w.velocity_rms_mm_s) AS velocity_rms_mean_mm_s,
  approx_percentile(w.velocity_rms_mm_s, 0.95) AS velocity_rms_p95_mm_s,
  max(w.velocity_rms_mm_s) AS velocity_rms_max_mm_s,
  max(w.iso_zone) AS worst_zone,
  avg(w.temperature_c) AS temperature_mean_c,
  max(fit.slope_mm_s_per_day) AS period_slope_mm_s_per_day
FROM w
CROSS JOIN fit
GROUP BY w.year, w.month, w.day
ORDER BY utc_date
