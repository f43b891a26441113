-- Command signatures: what each agent last reported in its heartbeat. NULL = never reported
-- (an agent that predates signatures).

ALTER TABLE agents ADD COLUMN command_keys TEXT;
ALTER TABLE agents ADD COLUMN enforcing INTEGER;
