-- What the agent list shows of each machine beyond its OS: addresses (JSON array), uptime and
-- load average (JSON array of 1/5/15 minutes), from the newest heartbeat. NULL: not reported.
ALTER TABLE agents ADD COLUMN ip_addresses TEXT;
ALTER TABLE agents ADD COLUMN uptime_secs INTEGER;
ALTER TABLE agents ADD COLUMN load_avg TEXT;
