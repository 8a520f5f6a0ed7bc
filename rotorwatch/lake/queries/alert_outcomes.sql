-- Alert outcomes: how many of the WARNING/ALARM alerts of the last :days days were real, by
-- what the technicians answered (rotorwatch.alerting.feedback), per site and claimed fault, with a
-- total per site and for the fleet (rows whose fault, or site and fault, are '*'); no alerts
-- in the period, no rows.
-- confirmed: the named fault was there; other_fault: a fault, another one; repaired: repaired
-- or replaced; rejected: no fault found; unanswered: no answer yet. A corrected answer counts
-- as its latest version. precision = (confirmed + other_fault + repaired) / answered: of the
-- alerts someone checked, the share that found something (NULL while none is answered).
-- Reads feedback.
-- @param days integer = 30 in [1, 36500] how many days back from now
WITH params AS (
  SELECT CAST(to_unixtime(current_timestamp) * 1000 AS bigint) - CAST(:days AS bigint) * 86400000 AS since_ms
),
bounds AS (
  -- The look-back start as partition values (the table is partitioned by the day a row was
  -- recorded): Athena prunes projected partitions before it lists S3.
  SELECT
    params.*,
    date_format(from_unixtime(params.since_ms / 1000), '%Y') AS since_year,
    date_format(from_unixtime(params.since_ms / 1000), '%m') AS since_month,
    date_format(from_unixtime(params.since_ms / 1000), '%d') AS since_day
  FROM params
),
recent AS (
  SELECT f.*
  FROM feedback AS f
  CROSS JOIN bounds AS b
  WHERE (f.year > b.since_year
      OR (f.year = b.since_year AND f.month > b.since_month)
      OR (f.year = b.since_year AND f.month = b.since_month AND f.day >= b.since_day))
    AND f.recorded_ms >= b.since_ms
),
alerts AS (
  -- One row per alert sent in the period (a re-sent alert wrote the same row again).
  SELECT alert_id, max(site) AS site, max(fault_claimed) AS fault
  FROM recent
  WHERE kind = 'alert'
  GROUP BY alert_id
),
answers AS (
  -- The answer that stands: the latest the record took (a correction replaces the first).
  SELECT alert_id, max_by(verdict, recorded_ms) AS verdict
  FROM recent
  WHERE kind = 'answer'
  GROUP BY alert_id
),
outcomes AS (
  SELECT
    coalesce(a.site, '(no site)') AS site,
    coalesce(a.fault, 'unknown') AS fault,
    v.verdict
  FROM alerts AS a
  LEFT JOIN answers AS v ON v.alert_id = a.alert_id
)
SELECT
  CASE WHEN grouping(site) = 1 THEN '*' ELSE site END AS site,
  CASE WHEN grouping(fault) = 1 THEN '*' ELSE fault END AS fault,
  count(*) AS alerts,
  count(verdict) AS answered,
  count_if(verdict = 'confirmed') AS confirmed,
  count_if(verdict = 'other_fault') AS other_fault,
  count_if(verdict = 'repaired') AS repaired,
  count_if(verdict = 'no_fault_found') AS rejected,
  count(*) - count(verdict) AS unanswered,
  CAST(count_if(verdict IN ('confirmed', 'other_fault', 'repaired')) AS double)
    / nullif(count(verdict), 0) AS precision
FROM outcomes
GROUP BY ROLLUP (site, fault)
HAVING count(*) > 0  -- no alerts in the period: no rows, not a fleet total of zeros
ORDER BY grouping(site), site, grouping(fault), alerts DESC, fault
