-- Sensor problems per day: for each UTC day and vibration sensor problem (sensor_flat_line: a
-- dead or disconnected accelerometer; sensor_saturated: samples at the converter's full scale;
-- sensor_clipped: plateaus at the signal's extremes, a loose sensor or its amplifier), the
-- windows that showed it, the devices that sent them, and that problem's share of the day's
-- windows. These windows tell nothing about the machine: each is a sensor to fix
-- (rotorwatch/diagnosis/features/sensor_health.py says how each is detected). Covers today and the
-- :days - 1 days before it; days and problems without a window are not listed.
-- Reads features (column vibration_sensor). Its partitions are by ARRIVAL time, so days here
-- are taken from each window's own ts; partitions are pruned from the first day on.
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
    f.device_id,
    f.ts,
    f.vibration_sensor,
    row_number() OVER (PARTITION BY f.device_id, f.ts, f.seq ORDER BY f.received_at DESC) AS copy
  FROM features AS f
  CROSS JOIN bounds AS b
  WHERE (f.year > b.since_year
      OR (f.year = b.since_year AND f.month > b.since_month)
      OR (f.year = b.since_year AND f.month = b.since_month AND f.day >= b.since_day))
    AND f.ts >= b.since_ms
),
windows AS (
  SELECT
    date_format(from_unixtime(c.ts / 1000), '%Y-%m-%d') AS utc_date,
    c.device_id,
    c.vibration_sensor
  FROM copies AS c
  WHERE c.copy = 1
),
days AS (
  SELECT utc_date, count(*) AS day_windows
  FROM windows
  GROUP BY utc_date
)
SELECT
  w.utc_date,
  w.vibration_sensor AS sensor_problem,
  count(*) AS windows,
  count(DISTINCT w.device_id) AS devices,
  round(CAST(count(*) AS double) / max(d.day_windows), 4) AS share_of_windows
FROM windows AS w
JOIN days AS d ON d.utc_date = w.utc_date
WHERE w.vibration_sensor IS NOT NULL
GROUP BY w.utc_date, w.vibration_sensor
ORDER BY w.utc_date DESC, windows DESC, sensor_problem
