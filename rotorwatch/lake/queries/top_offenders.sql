-- Top offenders: the machines with the highest anomaly rate over the last :days days (ties
-- broken by alarms, then peak velocity), with their dominant fault (most frequent fault of
-- their WARNING/ALARM windows other than 'normal'; 'normal' when none: a healthy window's
-- fault is no finding), their temperature/pressure findings (windows with a sensor cause and
-- the most frequent cause) and worst ISO zone. At most :top_n machines.
-- Reads predictions.
-- Rows are de-duplicated by (device_id, ts, seq): a batch redelivered after a partial failure
-- can land a window twice (docs/architecture.md, "Exactly once where it counts").
-- @param days integer = 7 in [1, 36500] how many days back from now
-- @param top_n integer = 10 in [1, 10000] how many machines to list
WITH params AS (
  SELECT
    CAST(to_unixtime(current_timestamp) * 1000 AS bigint) - CAST(:days AS bigint) * 86400000 AS since_ms,
    :top_n AS top_n
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
p AS (
  SELECT * FROM copies WHERE copy = 1
),
fault_counts AS (
  SELECT
    device_id,
    fault,
    row_number() OVER (PARTITION BY device_id ORDER BY count(*) DESC, fault) AS fault_rank
  FROM p
  -- rotorwatch.diagnosis.predictions.FAULTY_WINDOW_SQL (the fault of a window): keep it verbatim.
  WHERE state <> 'HEALTHY' AND fault IS NOT NULL AND fault <> 'normal'
  GROUP BY device_id, fault
),
cause_counts AS (
  SELECT
    device_id,
    sensor_cause,
    row_number() OVER (PARTITION BY device_id ORDER BY count(*) DESC, sensor_cause) AS cause_rank
  FROM p
  WHERE sensor_cause IS NOT NULL
  GROUP BY device_id, sensor_cause
),
per_machine AS (
  SELECT
    p.device_id,
    max(p.site) AS site,
    count(*) AS windows,
    count_if(p.state <> 'HEALTHY') AS anomalies,
    count_if(p.state = 'ALARM') AS alarms,
    CAST(count_if(p.state <> 'HEALTHY') AS double) / count(*) AS anomaly_rate,
    count(p.sensor_cause) AS sensor_windows,
    max(p.velocity_rms_mm_s) AS max_velocity_rms_mm_s,
    max(p.iso_zone) AS worst_zone
  FROM p
  GROUP BY p.device_id
),
ranked AS (
  SELECT
    m.*,
    coalesce(f.fault, 'normal') AS dominant_fault,
    c.sensor_cause AS dominant_sensor_cause,
    row_number() OVER (
      ORDER BY m.anomaly_rate DESC, m.alarms DESC, m.max_velocity_rms_mm_s DESC, m.device_id
    ) AS offender_rank
  FROM per_machine AS m
  LEFT JOIN fault_counts AS f ON f.device_id = m.device_id AND f.fault_rank = 1
  LEFT JOIN cause_counts AS c ON c.device_id = m.device_id AND c.cause_rank = 1
)
SELECT
  r.offender_rank,
  r.device_id,
  r.site,
  r.windows,
  r.anomalies,
  r.alarms,
  round(r.anomaly_rate, 4) AS anomaly_rate,
  r.dominant_fault,
  r.sensor_windows,
  r.dominant_sensor_cause,
  r.worst_zone,
  r.max_velocity_rms_mm_s
FROM ranked AS r
CROSS JOIN params
WHERE r.offender_rank <= params.top_n
ORDER BY r.offender_rank
