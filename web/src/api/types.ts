// The backend's JSON, as in crates/kanade-protocol/src/api.rs. Times are RFC 3339 strings.

export type Role = 'viewer' | 'operator' | 'admin'

export interface ErrorBody {
  error: { code: string; message: string; field?: string | null }
}

export interface Page<T> {
  items: T[]
  total: number
  limit: number
  offset: number
}

export interface LoginResponse {
  token: string
  expires_at: string
  username: string
  role: Role
  must_change_pw: boolean
}

export interface Me {
  username: string
  role: Role
  must_change_pw: boolean
  mfa_enabled: boolean
  email?: string | null
}

export interface MfaInit {
  secret: string
  otpauth_url: string
}

/** POST /api/auth/mfa/verify and /api/auth/mfa/recovery-codes: shown once. */
export interface MfaRecoveryCodes {
  recovery_codes: string[]
}

export interface Account {
  username: string
  role: Role
  disabled: boolean
  must_change_pw: boolean
  email?: string | null
  mfa_enabled: boolean
  created_at: string
  updated_at: string
}

export interface AgentRow {
  pc_id: string
  hostname: string
  os_family: string
  os_version: string
  agent_version: string
  online: boolean
  first_seen: string
  last_heartbeat: string
  agent_cpu_pct?: number | null
  agent_rss_bytes?: number | null
  quarantined_versions: string[]
  agent_disk_read_bytes?: number | null
  agent_disk_written_bytes?: number | null
  last_logon_user?: string | null
  last_logon_display_name?: string | null
  command_protocols?: string[] | null
  /** Command signing keys the agent trusts; null when it never reported any. */
  command_keys?: string[] | null
  /** Whether it refuses commands that fail signature checks; null when unknown. */
  enforcing?: boolean | null
  groups: string[]
  /** The machine's addresses from its last heartbeat. */
  ip_addresses?: string[]
  /** Seconds since boot, as of last_heartbeat. */
  uptime_secs?: number | null
  /** Load average over 1, 5 and 15 minutes. */
  load_avg?: number[]
}

export interface VersionCount {
  agent_version: string
  machines: number
  online: number
}

export interface Heartbeat {
  pc_id: string
  at: string
  agent_version: string
  hostname: string
  os_family: string
  os_version: string
  agent_cpu_pct?: number | null
  agent_rss_bytes?: number | null
}

export interface PingResult {
  pc_id: string
  answered: boolean
  rtt_ms?: number | null
  heartbeat?: Heartbeat | null
}

export interface PerfPoint {
  at: string
  samples: number
  cpu_pct: number
  mem_used_bytes: number
  mem_total_bytes: number
  swap_used_bytes: number
  disk_read_bytes_per_sec: number
  disk_written_bytes_per_sec: number
  net_rx_bytes_per_sec: number
  net_tx_bytes_per_sec: number
}

export interface PerfSeries {
  pc_id: string
  from: string
  to: string
  step_secs: number
  points: PerfPoint[]
}

export interface FleetPoint {
  at: string
  machines: number
  cpu_avg: number
  cpu_max: number
  mem_pct_avg: number
  mem_pct_max: number
}

export interface FleetPerf {
  machines: number
  cpu_p50: number
  cpu_p90: number
  cpu_p99: number
  mem_pct_p50: number
  mem_pct_p90: number
  mem_pct_p99: number
  step_secs: number
  series: FleetPoint[]
}

export interface ProcessSample {
  pid: number
  name: string
  cpu_pct: number
  rss_bytes: number
  disk_read_bytes_per_sec: number | null
  disk_written_bytes_per_sec: number | null
}

export interface ProcessSnapshot {
  pc_id: string
  at?: string | null
  processes: ProcessSample[]
}

export interface ObsEntry {
  id: number
  pc_id: string
  at: string
  kind: string
  source: string
  event_record_id?: string | null
  payload: unknown
}

export interface JobSummary {
  id: string
  version: string
  description?: string | null
  shell: string
  timeout: string
  tags: string[]
}

export interface JobDetail {
  manifest: Record<string, unknown> & { id: string; version: string }
  yaml?: string | null
}

export interface JobStatus {
  id: string
  revoked: boolean
  pinned_version?: string | null
}

export interface Target {
  all?: boolean
  groups?: string[]
  pcs?: string[]
}

export interface ExecRequest {
  target: Target
  jitter?: string
  deadline_at?: string
  rollout?: { waves: Wave[]; halt_on_failure_pct?: number }
}

export interface ExecResponse {
  exec_id: string
  job_id: string
  version: string
  request_id: string
  target_count: number
  subjects: string[]
  /** `fleet_frozen` when the fleet freeze was on: the run went out anyway (a rollout's waves wait). */
  warnings?: { code: string; message: string }[]
}

export interface ExecutionSummary {
  exec_id: string
  job_id: string
  version: string
  initiated_by: string
  initiated_at: string
  target_count: number
  success_count: number
  failure_count: number
  skipped_count: number
  status: string
  /** The runs counted by outcome; older backends send none. */
  outcomes?: OutcomeCounts
  /** The worst outcome counted; colour by this, not by `status`. */
  worst?: Outcome | null
  /** Machine ids, `group:<name>` or `all`. */
  targets?: string[]
  /** True for a wave rollout (only then is there a `/rollout`). */
  rollout?: boolean
}

export type Outcome = 'ok' | 'running' | 'warn' | 'skipped' | 'killed' | 'not_reported' | 'timed_out' | 'failed'

export interface OutcomeCounts {
  ok: number
  failed: number
  timed_out: number
  killed: number
  skipped: number
  not_reported: number
  running: number
  waiting: number
  /** Skipped runs by reason ("revoked": 2). */
  skip_reasons?: Record<string, number>
  /** A check job's check statuses counted (ok, warn, fail, unknown). */
  checks?: Record<string, number>
}

export interface ResultSummary {
  result_id: string
  request_id: string
  exec_id: string
  pc_id: string
  job_id: string
  version: string
  exit_code: number | null
  started_at: string | null
  finished_at: string | null
  recorded_at: string | null
  skipped: boolean
  reaped: boolean
  /** How it ended; older backends send none. */
  outcome?: Outcome
  /** "timed out after 2s", "skipped: revoked", "exit 3". */
  outcome_note?: string
}

export interface ExecutionDetail extends ExecutionSummary {
  results: ResultSummary[]
  /** The targeted machines with no finished result yet (running ones included). */
  waiting_for?: string[]
  /** Jobs with `require_approval: true`: the two-person request behind this execution. */
  approval?: Approval | null
}

export type ApprovalState = 'awaiting' | 'approved' | 'rejected' | 'expired'

/** GET /api/approvals, and `approval` of an execution. */
export interface Approval {
  exec_id: string
  job_id: string
  version: string
  requested_by: string
  requested_at: string
  expires_at: string
  state: ApprovalState
  decided_by?: string | null
  decided_at?: string | null
  reason?: string | null
  request: { target: { all: boolean; groups: string[]; pcs: string[] }; rollout?: unknown; deadline_at?: string | null }
}

export interface ResultDetail extends ResultSummary {
  stdout: string
  stderr: string
  stdout_object?: string | null
  stderr_object?: string | null
  /** Key of the bundle in `collections` the run's `collect` hint made. */
  collect_object?: string | null
  /** The run a finalize step (`<job>__finalize`) followed. */
  parent_result_id?: string | null
}

/** One bundle in `collections` (`GET /api/collect/bundles`). */
export interface BundleInfo {
  key: string
  pc_id: string
  job_id: string
  size: number
  created_at: string
  digest?: string | null
}

export interface AuditEntry {
  id: number
  actor: string
  action: string
  target?: string | null
  payload: unknown
  occurred_at: string
  client_addr?: string | null
}

export interface GroupSummary {
  name: string
  members: number
}

export interface Freeze {
  from?: string | null
  until?: string | null
  reason?: string | null
  set_by?: string | null
  set_at: string
}

export interface FreezeStatus {
  frozen: boolean
  freeze?: Freeze | null
}

/** What GET /api/events/stream pushes; the SSE event name is `type`. */
export type LiveEvent =
  | { type: 'execution'; exec_id: string; job_id: string }
  | { type: 'result'; exec_id: string; pc_id: string; result_id: string; exit_code: number | null }
  | { type: 'agent'; pc_id: string; online: boolean }
  | { type: 'timeline'; pc_id: string; kind: string }

export interface ScheduleSummary {
  id: string
  job_id: string
  enabled: boolean
  when: string
  next_fire?: string | null
  /** When it last fired (its newest execution). */
  last_fire?: string | null
}

export interface ScheduleDetail {
  schedule: Record<string, unknown> & { id: string; job_id: string; enabled: boolean }
  yaml?: string | null
  next_fire?: string | null
}

export interface UpcomingFire {
  schedule_id: string
  job_id: string
  at: string
}

export interface RolloutProgress {
  /** running, held (a due wave waits for the freeze to end; `note` says which), done or halted */
  status: string
  waves_total: number
  waves_published: number
  note?: string | null
}

export interface Wave {
  group: string
  delay?: string
}

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'unknown'

export interface ComplianceSummary {
  check_name: string
  label?: string | null
  ok: number
  warn: number
  fail: number
  unknown: number
  failing: string[]
}

export interface CheckRow {
  pc_id: string
  check_name: string
  status: CheckStatus
  detail?: string | null
  label?: string | null
  job_id: string
  finished_at: string
  recorded_at: string
}

export interface NotificationSummary {
  id: string
  priority: string
  require_ack: boolean
  title: string
  body: string
  issued_at: string
  issued_by?: string | null
  expires_at?: string | null
  target: Target
  subjects: string[]
  acks: number
}

/** A partial config (GET/PATCH /api/config/{scope}): only the fields set in this scope. */
export interface ConfigScope {
  heartbeat_interval?: string
  host_perf_interval?: string
  process_perf_enabled?: boolean
  process_perf_expires_at?: string
  process_perf_interval?: string
  process_perf_top_n?: number
  max_local_concurrent?: number
  target_version?: string
  target_version_jitter?: string
  command_signatures?: 'enforce' | 'report'
  terminal?: 'allow' | 'consent' | 'deny'
  terminal_consent_timeout?: string
  terminal_idle_timeout?: string
}

export interface EffectiveConfig {
  heartbeat_interval: string
  host_perf_interval: string
  process_perf_enabled: boolean
  process_perf_expires_at?: string | null
  process_perf_interval: string
  process_perf_top_n: number
  max_local_concurrent: number
  target_version?: string | null
  target_version_jitter: string
  command_signatures: 'enforce' | 'report'
  terminal: 'allow' | 'consent' | 'deny'
  terminal_consent_timeout: string
  terminal_idle_timeout: string
}

/** One resolved value and the scope it came from (`default`, `global`, `groups.<g>`, `pcs.<id>`). */
export interface Sourced {
  field: string
  value: unknown
  scope: string
}

export interface EffectiveConfigView {
  pc_id: string
  groups: string[]
  effective: EffectiveConfig
  sources: Sourced[]
}

export interface AgentRelease {
  key: string
  version: string
  platform: string
  size: number
  sha256: string
  published_by?: string | null
}

export interface GroupEmails {
  emails: string[]
}

export interface DisplayField {
  field: string
  label?: string | null
  type?: string | null
  columns?: DisplayField[]
}

export interface ExplodeColumn {
  field: string
  type?: 'text' | 'integer' | 'real'
  index?: boolean
}

export interface ExplodeSpec {
  field: string
  table: string
  primary_key: string[]
  columns: ExplodeColumn[]
  track_history?: boolean
}

/** GET /api/inventory/search: rows of one explode table. */
export interface InventorySearch {
  table: string
  columns: string[]
  items: Record<string, unknown>[]
  total: number
  limit: number
  offset: number
}

/** GET /api/inventory/history: one change between two inventory runs. */
export interface InventoryChange {
  id: number
  pc_id: string
  job_id: string
  field_path: string
  identity: unknown
  change_kind: 'added' | 'removed' | 'changed' | string
  before: unknown
  after: unknown
  observed_at: string
}

// Machine access, as in crates/kanade-protocol/src/enrollment.rs.

export type IdentityStatus = 'pending' | 'approved' | 'rejected' | 'revoked'

export interface MachineIdentity {
  pc_id: string
  nkey: string
  status: IdentityStatus
  pending_nkey?: string | null
  first_seen: string
  last_seen: string
  address: string
  token_id?: string | null
  decided_by?: string | null
  decided_at?: string | null
  reason?: string | null
}

export interface DecisionResponse extends MachineIdentity {
  connections_closed?: number | null
}

export interface TokenRow {
  id: string
  group?: string | null
  expires_at: string
  uses_left: number
  uses_total: number
  created_by: string
  created_at: string
}

export interface CreatedToken {
  token: TokenRow
  text: string
}

/** GET /api/saved-searches: a named inventory search (query = the search's URL query). */
export interface SavedSearch {
  id: string
  name: string
  query: string
  shared: boolean
  owner: string
  updated_at: string
}

export interface SaveSearch {
  name: string
  query: string
  shared: boolean
}
