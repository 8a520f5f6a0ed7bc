-- Machines by remaining life: every machine's latest remaining-life estimate (hours until its
-- end-of-life limit at the current rate of degradation, with the low-high interval), the
-- shortest low end first: the machine that may fail first is at the top. Machines whose latest
-- window has no estimate (no degradation visible, or no end-of-life limit known) follow, with
-- nulls: the product does not invent a number for them. estimated_at_utc is the window the
-- estimate was made at; the time left counts from there.
-- Reads predictions of the last :lookback_hours hours only (partition-pruned).
-- @param lookback_hours integer = 24 in [1, 876000] how far back to look for a machine's latest window
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
latest AS (
  SELECT
    p.device_id,
    max(p.ts) AS last_ts,
    max_by(p.site, p.ts) AS site,
    max_by(p.state, p.ts) AS state,
    max_by(p.fault, p.ts) AS fault,
    max_by(p.iso_zone, p.ts) AS iso_zone,
    max_by(p.velocity_rms_mm_s, p.ts) AS velocity_rms_mm_s,
    max_by(p.remaining_life_s, p.ts) AS remaining_life_s,
    max_by(p.remaining_life_low_s, p.ts) AS remaining_life_low_s,
    max_by(p.remaining_life_high_s, p.ts) AS remaining_life_high_s
  FROM predictions AS p
  CROSS JOIN bounds AS b
  WHERE (p.year > b.since_year
      OR (p.year = b.since_year AND p.month > b.since_month)
      OR (p.year = b.since_year AND p.month = b.since_month AND p.day >= b.since_day))
    AND p.ts >= b.since_ms
  GROUP BY p.device_id
)
SELECT
  device_id,
  site,
  state,
  fault,
  iso_zone,
  velocity_rms_mm_s,
  remaining_life_s / 3600.0 AS remaining_life_h,
  remaining_life_low_s / 3600.0 AS remaining_life_low_h,
  remaining_life_high_s / 3600.0 AS remaining_life_high_h,
  from_unixtime(last_ts / 1000) AS estimated_at_utc
FROM latest
ORDER BY remaining_life_low_s ASC NULLS LAST, remaining_life_s ASC NULLS LAST, device_id
