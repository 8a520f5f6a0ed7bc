-- A machine's vibration trend: one row per UTC day with window count, mean / p95 / max velocity
-- RMS (mm/s), the worst ISO zone, temperature mean / max (degC) and its trend within the day
-- (degC per hour), pressure lowest / highest (bar) and its trend (bar per hour), plus the
-- least-squares slope of velocity RMS over the whole period in mm/s per day (null with fewer
-- than two distinct times). A temperature climbing for hours while the velocity is still flat
-- is lubrication going; a pressure drifting down, a pump losing head.
-- A steadily positive slope on a machine still in zone B is the early warning to act on.
-- p95 is Athena's approx_percentile (approximate by design). The "Look closer" line of every
-- alert names this query with the machine and a since time a day before the problem began.
-- Rows are de-duplicated by (device_id, ts, seq): a batch redelivered after a partial failure
-- can land a window twice (docs/architecture.md, "Exactly once where it counts").
-- @param device_id string the machine (thing name)
-- @param since time = 30d first window to include: a UTC time (2026-11-22 06:40:00 or 2026-11-22) or a look-back in days (7d)
WITH params AS (
  SELECT :device_id AS device_id, trim(:since) AS since
),
start AS (
  SELECT
    device_id,
    CASE
      WHEN regexp_like(since, '^[0-9]+d$')
        THEN CAST(to_unixtime(current_timestamp) * 1000 AS bigint)
          - CAST(regexp_extract(since, '^([0-9]+)d$', 1) AS bigint) * 86400000
      ELSE CAST(to_unixtime(try_cast(since AS timestamp)) * 1000 AS bigint)
    END AS since_ms
  FROM params
),
bounds AS (
  -- The start as partition values: the partition filter below compares the partition
  -- columns directly, so Athena prunes projected partitions before it lists S3.
  SELECT
    start.*,
    date_format(from_unixtime(start.since_ms / 1000), '%Y') AS since_year,
    date_format(from_unixtime(start.since_ms / 1000), '%m') AS since_month,
    date_format(from_unixtime(start.since_ms / 1000), '%d') AS since_day
  FROM start
),
copies AS (
  SELECT
    f.ts, f.velocity_rms_mm_s, f.iso_zone, f.temperature_c, f.pressure_bar,
    row_number() OVER (PARTITION BY f.device_id, f.ts, f.seq ORDER BY f.received_at DESC) AS copy
  FROM features AS f
  CROSS JOIN bounds AS b
  WHERE f.device_id = b.device_id
    AND (f.year > b.since_year
      OR (f.year = b.since_year AND f.month > b.since_month)
      OR (f.year = b.since_year AND f.month = b.since_month AND f.day >= b.since_day))
    AND f.ts >= b.since_ms
    AND f.velocity_rms_mm_s IS NOT NULL
),
w AS (
  SELECT ts, velocity_rms_mm_s, iso_zone, temperature_c, pressure_bar FROM copies WHERE copy = 1
),
fit AS (
  -- regr_slope is NaN on some engines and NULL on others when time does not vary: guard it.
  SELECT
    CASE WHEN max(ts) > min(ts) THEN regr_slope(velocity_rms_mm_s, ts / 86400000.0) END AS slope_mm_s_per_day
  FROM w
)
SELECT
  -- The day the window was measured (partitions are by arrival, seconds later).
  date_format(from_unixtime(w.ts / 1000), '%Y-%m-%d') AS utc_date,
  count(*) AS windows,
  avg(w.velocity_rms_mm_s) AS velocity_rms_mean_mm_s,
  approx_percentile(w.velocity_rms_mm_s, 0.95) AS velocity_rms_p95_mm_s,
  max(w.velocity_rms_mm_s) AS velocity_rms_max_mm_s,
  max(w.iso_zone) AS worst_zone,
  avg(w.temperature_c) AS temperature_mean_c,
  max(w.temperature_c) AS temperature_max_c,
  -- Fitted only on two or more readings (one reading has no slope: NULL here, NaN elsewhere).
  CASE WHEN count(w.temperature_c) > 1
    THEN regr_slope(w.temperature_c, w.ts / 3600000.0) END AS temperature_trend_c_per_h,
  min(w.pressure_bar) AS pressure_lowest_bar,
  max(w.pressure_bar) AS pressure_highest_bar,
  CASE WHEN count(w.pressure_bar) > 1
    THEN regr_slope(w.pressure_bar, w.ts / 3600000.0) END AS pressure_trend_bar_per_h,
  max(fit.slope_mm_s_per_day) AS period_slope_mm_s_per_day
FROM w
CROSS JOIN fit
GROUP BY 1
ORDER BY utc_date
