-- Anomalies per day: for each UTC day and machine, scored windows, anomalous windows (state
-- WARNING or ALARM), alarms, the anomaly rate and the mean anomaly score. Covers today and the
-- :days - 1 days before it; machine-days without anomalies are listed too (rate 0).
-- Reads predictions (partitioned by window time, so a day here is the day the data describes).
-- @param days integer = 7 number of UTC days, today included
WITH params AS (
  SELECT date_format(current_timestamp - (:days - 1) * INTERVAL '1' DAY, '%Y%m%d') AS first_day
)
SELECT
  concat(p.year, '-', p.month, '-', p.day) AS utc_date,
  p.device_id,
  count(*) AS windows,
  count_if(p.state <> 'HEALTHY') AS anomalies,
  count_if(p.state = 'ALARM') AS alarms,
  round(CAST(count_if(p.state <> 'HEALTHY') AS double) / count(*), 4) AS anomaly_rate,
  avg(p.anomaly_score) AS anomaly_score_mean
FROM predictions AS p
CROSS JOIN params
WHERE concat(p.year, p.month, p.day) >= params.first_day
GROUP BY p.year, p.month, p.day, p.device_id
ORDER BY utc_date DESC, anomalies DESC, p.device_id
