//! A small HTTP peer speaking the backend's API on a loopback port, just enough to drive the
//! client and `exec --wait`: jobs in memory, and an execution whose results arrive one per poll;
//! sign-in, accounts, audit and MFA with the real routes' status codes and error codes; and the
//! fleet routes (agents, ping, groups, config, freeze, job status, releases, timeline, perf),
//! which record every request they get (method, path, query, JSON body) for the tests to check.
//! (The real backend is exercised by the end-to-end tests in kanade-testkit.)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use kanade_protocol::api::{
    Account, AccountPatch, AgentRelease, AgentRow, AuditEntry, ChangePasswordRequest,
    EffectiveConfigView, ErrorBody, ErrorDetail, ExecRequest, ExecResponse, ExecutionDetail,
    ExecutionSummary, FleetPerf, FleetPoint, FreezeRequest, FreezeStatus, GroupList, GroupSummary,
    Health, JobDetail, JobStatus, JobSummary, LoginRequest, LoginResponse, Me, MfaCode, MfaInit,
    NewAccount, ObsEntry, Page, PerfPoint, PerfSeries, PingResult, ResultDetail, ResultSummary,
    Role, TopEntry, VersionCount,
};
use kanade_protocol::config::{ConfigScope, FIELDS as CONFIG_FIELDS};
use kanade_protocol::manifest::Manifest;
use kanade_protocol::wire::{Freeze, Heartbeat};
use sha2::Digest;

/// How the fake fleet answers: `bad` exits 3, `ghost` never answers, anyone else exits 0.
/// An execution expires after `polls_to_expire` polls unless everyone answered.
#[derive(Default)]
struct Fake {
    token: Option<String>,
    jobs: BTreeMap<String, JobDetail>,
    executions: BTreeMap<String, (Vec<String>, usize)>,
    polls_to_expire: usize,
    seen_queries: Vec<BTreeMap<String, String>>,
    users: BTreeMap<String, FakeUser>,
    /// Session token → user name.
    sessions: BTreeMap<String, String>,
    issued: usize,
    audit: Vec<AuditEntry>,
    seen_audit_queries: Vec<BTreeMap<String, String>>,
    fleet: FleetState,
}

/// The TOTP code every enrolled fake account accepts.
pub const GOOD_TOTP: &str = "123456";
/// Seeded accounts and their passwords.
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const MFA_PASSWORD: &str = "mfa-password-1";
pub const NEWBIE_PASSWORD: &str = "newbie-password-1";

#[derive(Clone)]
struct FakeUser {
    password: String,
    role: Role,
    disabled: bool,
    must_change_pw: bool,
    email: Option<String>,
    mfa: bool,
    mfa_pending: bool,
    updated_at: DateTime<Utc>,
}

impl FakeUser {
    fn new(password: &str, role: Role) -> FakeUser {
        FakeUser {
            password: password.to_owned(),
            role,
            disabled: false,
            must_change_pw: false,
            email: None,
            mfa: false,
            mfa_pending: false,
            updated_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    fn account(&self, username: &str) -> Account {
        Account {
            username: username.to_owned(),
            role: self.role,
            disabled: self.disabled,
            must_change_pw: self.must_change_pw,
            email: self.email.clone(),
            mfa_enabled: self.mfa,
            created_at: self.updated_at,
            updated_at: self.updated_at,
        }
    }
}

/// `admin` (admin), `mfa-user` (viewer, enrolled in MFA), `newbie` (viewer, must change its
/// password).
fn seed_users() -> BTreeMap<String, FakeUser> {
    let mut users = BTreeMap::new();
    users.insert(
        "admin".to_owned(),
        FakeUser::new(ADMIN_PASSWORD, Role::Admin),
    );
    let mut mfa = FakeUser::new(MFA_PASSWORD, Role::Viewer);
    mfa.mfa = true;
    users.insert("mfa-user".to_owned(), mfa);
    let mut newbie = FakeUser::new(NEWBIE_PASSWORD, Role::Viewer);
    newbie.must_change_pw = true;
    users.insert("newbie".to_owned(), newbie);
    users
}

fn seed_audit() -> Vec<AuditEntry> {
    let entry = |id: i64, actor: &str, action: &str, target: Option<&str>, payload| AuditEntry {
        id,
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.map(str::to_owned),
        payload,
        occurred_at: format!("2026-01-0{id}T10:00:00Z").parse().unwrap(),
        client_addr: Some("127.0.0.1".to_owned()),
    };
    vec![
        entry(
            1,
            "admin",
            "account.create",
            Some("alice"),
            serde_json::json!({"role": "operator"}),
        ),
        entry(
            2,
            "alice",
            "exec",
            Some("hello"),
            serde_json::json!({"exec_id": "exec-1", "subjects": ["commands.pc.a", "commands.pc.b", "commands.pc.c", "commands.pc.d"]}),
        ),
        entry(
            3,
            "alice",
            "job.delete",
            Some("hello"),
            serde_json::json!({}),
        ),
    ]
}

#[derive(Clone)]
pub struct FakeBackend {
    pub url: String,
    state: Arc<Mutex<Fake>>,
}

type Shared = Arc<Mutex<Fake>>;

impl FakeBackend {
    /// Serves until the test's runtime ends. With `token`, `/api/*` wants that bearer token.
    pub async fn start(token: Option<&str>, polls_to_expire: usize) -> FakeBackend {
        let state = Arc::new(Mutex::new(Fake {
            token: token.map(str::to_owned),
            polls_to_expire,
            users: seed_users(),
            audit: seed_audit(),
            fleet: FleetState::seeded(),
            ..Fake::default()
        }));
        let app = axum::Router::new()
            .route("/health", get(health))
            .route("/api/jobs", get(list_jobs).post(create_job))
            .route("/api/jobs/{id}", get(get_job).delete(delete_job))
            .route("/api/exec/{job}", post(exec))
            .route("/api/executions/{id}", get(execution))
            .route("/api/results", get(list_results))
            .route("/api/results/{id}", get(result))
            .route("/api/auth/login", post(login))
            .route("/api/auth/me", get(me))
            .route("/api/auth/change-password", post(change_password))
            .route("/api/auth/logout", post(logout))
            .route("/api/auth/mfa/init", post(mfa_init))
            .route("/api/auth/mfa/verify", post(mfa_verify))
            .route("/api/auth/mfa/disable", post(mfa_disable))
            .route("/api/accounts", get(list_accounts).post(create_account))
            .route(
                "/api/accounts/{username}",
                axum::routing::patch(update_account).delete(delete_account),
            )
            .route("/api/audit", get(list_audit))
            .merge(fleet_routes(state.clone()))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeBackend { url, state }
    }

    /// The query strings `GET /api/results` received.
    pub fn seen_queries(&self) -> Vec<BTreeMap<String, String>> {
        self.state.lock().unwrap().seen_queries.clone()
    }

    /// The query strings `GET /api/audit` received.
    pub fn seen_audit_queries(&self) -> Vec<BTreeMap<String, String>> {
        self.state.lock().unwrap().seen_audit_queries.clone()
    }

    /// Sessions not signed out yet.
    pub fn live_sessions(&self) -> usize {
        self.state.lock().unwrap().sessions.len()
    }

    /// The requests the fleet routes received since the last call, oldest first.
    pub fn take_requests(&self) -> Vec<Seen> {
        std::mem::take(&mut self.state.lock().unwrap().fleet.seen)
    }

    /// What scope `key` sets now.
    pub fn config_scope(&self, key: &str) -> Option<ConfigScope> {
        self.state.lock().unwrap().fleet.config.get(key).cloned()
    }

    /// The groups machine `pc` is in now.
    pub fn groups_of(&self, pc: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state.fleet.groups.get(pc).cloned().unwrap_or_default()
    }
}

fn coded(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
            field: None,
        },
    };
    (status, Json(body)).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The signed-in caller's name, or the error response. `any_state`: allowed while the password
/// must still be changed (me, change-password, logout).
/// An error response, boxed: a `Response` is large.
type Refusal = Box<Response>;

fn caller(state: &Fake, headers: &HeaderMap, any_state: bool) -> Result<String, Refusal> {
    let unauthorized = || {
        Box::new(coded(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in first",
        ))
    };
    let token = bearer(headers).ok_or_else(unauthorized)?;
    let name = state.sessions.get(token).ok_or_else(unauthorized)?;
    let user = state.users.get(name).ok_or_else(unauthorized)?;
    if user.disabled {
        return Err(unauthorized());
    }
    if user.must_change_pw && !any_state {
        return Err(Box::new(coded(
            StatusCode::FORBIDDEN,
            "password_change_required",
            "change your password first (POST /api/auth/change-password)",
        )));
    }
    Ok(name.clone())
}

fn admin(state: &Fake, headers: &HeaderMap) -> Result<String, Refusal> {
    let name = caller(state, headers, false)?;
    let role = state.users[&name].role;
    if role != Role::Admin {
        return Err(Box::new(coded(
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!("this needs the admin role; you are {}", role.as_str()),
        )));
    }
    Ok(name)
}

async fn login(State(state): State<Shared>, Json(req): Json<LoginRequest>) -> Response {
    let mut state = state.lock().unwrap();
    let Some(user) = state
        .users
        .get(&req.username)
        .filter(|u| u.password == req.password && !u.disabled)
        .cloned()
    else {
        return coded(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong user name or password",
        );
    };
    if user.mfa {
        match req.totp.as_deref() {
            None => {
                return coded(
                    StatusCode::UNAUTHORIZED,
                    "totp_required",
                    "enter the code from your authenticator app",
                );
            }
            Some(code) if code != GOOD_TOTP => {
                return coded(
                    StatusCode::UNAUTHORIZED,
                    "invalid_totp",
                    "the authenticator code is wrong or expired",
                );
            }
            Some(_) => {}
        }
    }
    state.issued += 1;
    let token = format!("session-{}", state.issued);
    state.sessions.insert(token.clone(), req.username.clone());
    Json(LoginResponse {
        token,
        expires_at: "2030-01-01T08:00:00Z".parse().unwrap(),
        username: req.username,
        role: user.role,
        must_change_pw: user.must_change_pw,
    })
    .into_response()
}

async fn me(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    let name = match caller(&state, &headers, true) {
        Ok(name) => name,
        Err(response) => return *response,
    };
    let user = &state.users[&name];
    Json(Me {
        username: name.clone(),
        role: user.role,
        must_change_pw: user.must_change_pw,
        mfa_enabled: user.mfa,
        email: user.email.clone(),
    })
    .into_response()
}

async fn change_password(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<ChangePasswordRequest>,
) -> Response {
    let mut state = state.lock().unwrap();
    let name = match caller(&state, &headers, true) {
        Ok(name) => name,
        Err(response) => return *response,
    };
    if kanade_protocol::api::check_password_policy(&req.new_password).is_err() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "must be between 10 and 1024 characters",
            Some("new_password"),
        );
    }
    let user = state.users.get_mut(&name).unwrap();
    if user.password != req.current_password {
        return coded(
            StatusCode::FORBIDDEN,
            "invalid_credentials",
            "the current password is wrong",
        );
    }
    user.password = req.new_password;
    user.must_change_pw = false;
    StatusCode::NO_CONTENT.into_response()
}

async fn logout(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(response) = caller(&state, &headers, true) {
        return *response;
    }
    let token = bearer(&headers).unwrap_or_default().to_owned();
    state.sessions.remove(&token);
    StatusCode::NO_CONTENT.into_response()
}

async fn mfa_init(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let mut state = state.lock().unwrap();
    let name = match caller(&state, &headers, false) {
        Ok(name) => name,
        Err(response) => return *response,
    };
    state.users.get_mut(&name).unwrap().mfa_pending = true;
    Json(MfaInit {
        secret: "JBSWY3DPEHPK3PXP".into(),
        otpauth_url: format!("otpauth://totp/kanade:{name}?secret=JBSWY3DPEHPK3PXP&issuer=kanade"),
    })
    .into_response()
}

async fn mfa_verify(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<MfaCode>,
) -> Response {
    let mut state = state.lock().unwrap();
    let name = match caller(&state, &headers, false) {
        Ok(name) => name,
        Err(response) => return *response,
    };
    let user = state.users.get_mut(&name).unwrap();
    if !user.mfa_pending {
        return coded(
            StatusCode::CONFLICT,
            "no_enrolment",
            "start with POST /api/auth/mfa/init",
        );
    }
    if req.code != GOOD_TOTP {
        return coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_totp",
            "the code does not match; check the clock of your device",
        );
    }
    user.mfa = true;
    user.mfa_pending = false;
    Json(serde_json::json!({"recovery_codes": ["aaaa-bbbb-cccc-dddd", "eeee-ffff-gggg-hhhh"]}))
        .into_response()
}

async fn mfa_disable(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<MfaCode>,
) -> Response {
    let mut state = state.lock().unwrap();
    let name = match caller(&state, &headers, false) {
        Ok(name) => name,
        Err(response) => return *response,
    };
    let user = state.users.get_mut(&name).unwrap();
    if !user.mfa {
        return coded(
            StatusCode::CONFLICT,
            "mfa_not_enabled",
            "MFA is not enabled",
        );
    }
    if req.code != GOOD_TOTP {
        return coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_totp",
            "the code does not match",
        );
    }
    user.mfa = false;
    StatusCode::NO_CONTENT.into_response()
}

async fn list_accounts(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    if let Err(response) = admin(&state, &headers) {
        return *response;
    }
    let accounts: Vec<Account> = state
        .users
        .iter()
        .map(|(name, user)| user.account(name))
        .collect();
    Json(accounts).into_response()
}

async fn create_account(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<NewAccount>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(response) = admin(&state, &headers) {
        return *response;
    }
    if state.users.contains_key(&req.username) {
        return coded(
            StatusCode::CONFLICT,
            "conflict",
            &format!("account `{}` already exists", req.username),
        );
    }
    let mut user = FakeUser::new(&req.password, req.role);
    user.email = req.email;
    user.must_change_pw = true;
    let account = user.account(&req.username);
    state.users.insert(req.username, user);
    (StatusCode::CREATED, Json(account)).into_response()
}

/// Enabled admins other than `except`.
fn other_admins(state: &Fake, except: &str) -> usize {
    state
        .users
        .iter()
        .filter(|(name, u)| name.as_str() != except && u.role == Role::Admin && !u.disabled)
        .count()
}

fn last_admin(username: &str) -> Response {
    coded(
        StatusCode::CONFLICT,
        "conflict",
        &format!("`{username}` is the last enabled admin"),
    )
}

async fn update_account(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(username): Path<String>,
    Json(patch): Json<AccountPatch>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(response) = admin(&state, &headers) {
        return *response;
    }
    let Some(current) = state.users.get(&username) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("account `{username}` not found"),
            None,
        );
    };
    let loses_admin = current.role == Role::Admin
        && !current.disabled
        && (patch.role.is_some_and(|r| r != Role::Admin) || patch.disabled == Some(true));
    if loses_admin && other_admins(&state, &username) == 0 {
        return last_admin(&username);
    }
    let user = state.users.get_mut(&username).unwrap();
    if let Some(role) = patch.role {
        user.role = role;
    }
    if let Some(disabled) = patch.disabled {
        user.disabled = disabled;
    }
    if let Some(email) = patch.email {
        user.email = Some(email).filter(|e| !e.is_empty());
    }
    if let Some(password) = patch.password {
        user.password = password;
        user.must_change_pw = true;
    }
    Json(user.account(&username)).into_response()
}

async fn delete_account(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(response) = admin(&state, &headers) {
        return *response;
    }
    let Some(user) = state.users.get(&username) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("account `{username}` not found"),
            None,
        );
    };
    if user.role == Role::Admin && !user.disabled && other_admins(&state, &username) == 0 {
        return last_admin(&username);
    }
    state.users.remove(&username);
    StatusCode::NO_CONTENT.into_response()
}

async fn list_audit(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(response) = caller(&state, &headers, false) {
        return *response;
    }
    state.seen_audit_queries.push(query.clone());
    let since = query
        .get("since")
        .map(|s| s.parse::<DateTime<Utc>>().unwrap());
    let mut items: Vec<AuditEntry> = state
        .audit
        .iter()
        .filter(|e| query.get("actor").is_none_or(|a| *a == e.actor))
        .filter(|e| query.get("action").is_none_or(|a| *a == e.action))
        .filter(|e| since.is_none_or(|s| e.occurred_at >= s))
        .cloned()
        .collect();
    items.reverse();
    let total = items.len() as u64;
    let limit: u32 = query.get("limit").map_or(100, |l| l.parse().unwrap());
    items.truncate(limit as usize);
    Json(Page {
        items,
        total,
        limit,
        offset: 0,
    })
    .into_response()
}

fn error(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: status.as_str().to_owned(),
            message: message.to_owned(),
            field: field.map(str::to_owned),
        },
    };
    (status, Json(body)).into_response()
}

/// The job routes: open when the fake has no static token, else that token or a session's.
fn authorized(state: &Fake, headers: &HeaderMap) -> bool {
    let Some(token) = &state.token else {
        return true;
    };
    let sent = bearer(headers);
    sent == Some(token.as_str()) || sent.is_some_and(|t| state.sessions.contains_key(t))
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        nats: true,
        db: true,
        reason: None,
    })
}

async fn create_job(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut state = state.lock().unwrap();
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "sign in first", None);
    }
    let manifest = match Manifest::parse(&body) {
        Ok(manifest) if manifest.execute.script_file.is_some() => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "inline it",
                Some("execute.script_file"),
            );
        }
        Ok(manifest) => manifest,
        Err(err) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &err.to_string(),
                err.field(),
            );
        }
    };
    let detail = JobDetail {
        manifest,
        yaml: Some(body),
    };
    state
        .jobs
        .insert(detail.manifest.id.clone(), detail.clone());
    (StatusCode::CREATED, Json(detail)).into_response()
}

async fn list_jobs(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "sign in first", None);
    }
    let jobs: Vec<JobSummary> = state.jobs.values().map(|d| (&d.manifest).into()).collect();
    Json(jobs).into_response()
}

async fn get_job(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    match state.lock().unwrap().jobs.get(&id) {
        Some(detail) => Json(detail.clone()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("job `{id}` not found"),
            None,
        ),
    }
}

async fn delete_job(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    match state.lock().unwrap().jobs.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("job `{id}` not found"),
            None,
        ),
    }
}

async fn exec(
    State(state): State<Shared>,
    Path(job): Path<String>,
    Json(request): Json<ExecRequest>,
) -> Response {
    let mut state = state.lock().unwrap();
    let exec_id = format!("exec-{}", state.executions.len() + 1);
    let pcs = request.target.pcs.clone();
    state.executions.insert(exec_id.clone(), (pcs.clone(), 0));
    let response = ExecResponse {
        exec_id,
        job_id: job,
        version: "1".into(),
        request_id: "req".into(),
        target_count: pcs.len() as i64,
        subjects: request.target.subjects(),
        status: "pending".into(),
        machines: vec![],
        warnings: vec![],
    };
    (StatusCode::ACCEPTED, Json(response)).into_response()
}

fn summary(exec_id: &str, pc: &str) -> ResultSummary {
    let now = Utc::now();
    ResultSummary {
        result_id: format!("{exec_id}.{pc}"),
        request_id: "req".into(),
        exec_id: exec_id.into(),
        pc_id: pc.into(),
        job_id: "hello".into(),
        version: "1".into(),
        exit_code: Some(if pc == "bad" { 3 } else { 0 }),
        started_at: Some(now - chrono::TimeDelta::milliseconds(1500)),
        finished_at: Some(now),
        recorded_at: Some(now),
        skipped: false,
        reaped: false,
        outcome: if pc == "bad" {
            kanade_protocol::outcome::Outcome::Failed
        } else {
            kanade_protocol::outcome::Outcome::Ok
        },
        outcome_note: if pc == "bad" { "exit 3" } else { "ok" }.into(),
    }
}

/// Each poll reveals one more answering machine.
async fn execution(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let mut state = state.lock().unwrap();
    let polls_to_expire = state.polls_to_expire;
    let Some((pcs, polls)) = state.executions.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, "no such execution", None);
    };
    *polls += 1;
    let answering: Vec<&String> = pcs.iter().filter(|pc| *pc != "ghost").collect();
    let results: Vec<ResultSummary> = answering
        .iter()
        .take(*polls)
        .map(|pc| summary(&id, pc))
        .collect();
    let failures = results.iter().filter(|r| r.exit_code != Some(0)).count() as i64;
    let status = match (results.len() == pcs.len(), *polls >= polls_to_expire) {
        (true, _) => "completed",
        (false, true) => "expired",
        (false, false) => "running",
    };
    let execution = ExecutionSummary {
        exec_id: id.clone(),
        job_id: "hello".into(),
        version: "1".into(),
        initiated_by: "test".into(),
        initiated_at: Utc::now(),
        target_count: pcs.len() as i64,
        success_count: results.len() as i64 - failures,
        failure_count: failures,
        skipped_count: 0,
        status: status.into(),
        outcomes: Default::default(),
        worst: None,
        targets: pcs.clone(),
        rollout: false,
    };
    Json(ExecutionDetail {
        execution,
        results,
        approval: None,
        waiting_for: vec![],
    })
    .into_response()
}

async fn list_results(
    State(state): State<Shared>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    state.seen_queries.push(query.clone());
    let exec_id = query.get("exec_id").cloned().unwrap_or_default();
    let pcs = state
        .executions
        .get(&exec_id)
        .map(|(pcs, _)| pcs.clone())
        .unwrap_or_default();
    let items: Vec<ResultSummary> = pcs
        .iter()
        .filter(|pc| *pc != "ghost")
        .filter(|pc| query.get("pc_id").is_none_or(|want| want == *pc))
        .map(|pc| summary(&exec_id, pc))
        .collect();
    let total = items.len() as u64;
    Json(Page {
        items,
        total,
        limit: 500,
        offset: 0,
    })
    .into_response()
}

async fn result(Path(id): Path<String>) -> Response {
    let Some((exec_id, pc)) = id.split_once('.') else {
        return error(StatusCode::NOT_FOUND, "no such result", None);
    };
    let summary = summary(exec_id, pc);
    let failed = summary.exit_code != Some(0);
    Json(ResultDetail {
        summary,
        stdout: if failed {
            String::new()
        } else {
            format!("\nhello from {pc}\nmore\n")
        },
        stderr: if failed {
            "disk full\n".into()
        } else {
            String::new()
        },
        stdout_object: None,
        stderr_object: None,
        collect_object: None,
        parent_result_id: None,
        hint_errors: Vec::new(),
    })
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Fleet routes. Callers: the static tokens `viewer-token`, `operator-token` and `admin-token`
// carry those roles, a signed-in session its account's role; without a token the routes are
// open (as an admin) when the fake was started without one, like the job routes.
//
// Beyond the real routes, two answers are simulated so the CLI's handling of them is tested:
// group edits of the machine `contended` answer 409 (the compare-and-set kept losing), and a
// release upload whose body does not start like an executable (ELF, PE or Mach-O) answers 422.
// A release published as version `tampered` reports a SHA-256 that is not the body's.

/// One request a fleet route received.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub method: String,
    /// The path as sent (percent-encoded).
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// The body as JSON, when it was JSON.
    pub body: Option<serde_json::Value>,
    /// The body's length.
    pub body_len: usize,
}

/// The role tokens tests put in a session file.
pub const ROLE_TOKENS: [(&str, Role); 3] = [
    ("viewer-token", Role::Viewer),
    ("operator-token", Role::Operator),
    ("admin-token", Role::Admin),
];

/// The machine that never answers a ping.
pub const SILENT_PC: &str = "pc2";
/// The machine whose group edits conflict.
pub const CONTENDED_PC: &str = "contended";

const SORTABLE: &[&str] = &[
    "pc_id",
    "hostname",
    "os_family",
    "os_version",
    "agent_version",
    "last_heartbeat",
    "first_seen",
    "agent_cpu_pct",
    "agent_rss_bytes",
];

#[derive(Default)]
struct FleetState {
    agents: BTreeMap<String, AgentRow>,
    groups: BTreeMap<String, Vec<String>>,
    config: BTreeMap<String, ConfigScope>,
    freeze: Option<Freeze>,
    revoked: BTreeSet<String>,
    releases: BTreeMap<String, AgentRelease>,
    obs: Vec<ObsEntry>,
    seen: Vec<Seen>,
}

impl FleetState {
    /// `pc1` (online, linux, in canary and lab), `pc2` (offline, windows, in lab), `web-3`
    /// (online, linux, an older agent, no groups); `groups.lab` and `global` set a little
    /// config; three timeline events.
    fn seeded() -> FleetState {
        let now = Utc::now();
        let agent = |pc: &str, os: &str, version: &str, online: bool, ago_secs: i64| AgentRow {
            pc_id: pc.to_owned(),
            hostname: format!("{pc}.example.lan"),
            os_family: os.to_owned(),
            os_version: if os == "windows" { "11" } else { "24.04" }.to_owned(),
            agent_version: version.to_owned(),
            online,
            first_seen: "2026-01-01T00:00:00Z".parse().unwrap(),
            last_heartbeat: now - chrono::TimeDelta::seconds(ago_secs),
            agent_cpu_pct: online.then_some(0.4),
            agent_rss_bytes: online.then_some(24 * 1024 * 1024),
            quarantined_versions: Vec::new(),
            command_keys: None,
            enforcing: None,
            groups: Vec::new(),
            ..Default::default()
        };
        let mut agents = BTreeMap::new();
        for row in [
            agent("pc1", "linux", "0.2.0", true, 5),
            agent("pc2", "windows", "0.2.0", false, 7200),
            agent("web-3", "linux", "0.1.0", true, 20),
        ] {
            agents.insert(row.pc_id.clone(), row);
        }
        let mut groups = BTreeMap::new();
        groups.insert(
            "pc1".to_owned(),
            vec!["canary".to_owned(), "lab".to_owned()],
        );
        groups.insert("pc2".to_owned(), vec!["lab".to_owned()]);
        let mut config = BTreeMap::new();
        config.insert(
            "global".to_owned(),
            serde_json::from_str(r#"{"heartbeat_interval": "20s"}"#).unwrap(),
        );
        config.insert(
            "groups.lab".to_owned(),
            serde_json::from_str(r#"{"max_local_concurrent": 2, "target_version": "0.2.0"}"#)
                .unwrap(),
        );
        let event = |id: i64, pc: &str, kind: &str, at: &str, payload| ObsEntry {
            id,
            pc_id: pc.to_owned(),
            at: at.parse().unwrap(),
            kind: kind.to_owned(),
            source: "agent".to_owned(),
            event_record_id: None,
            payload,
        };
        let obs = vec![
            event(
                1,
                "pc1",
                "agent_started",
                "2026-01-30T08:00:00Z",
                serde_json::json!({"version": "0.1.0"}),
            ),
            event(
                2,
                "pc2",
                "boot",
                "2026-01-30T09:00:00Z",
                serde_json::json!({}),
            ),
            event(
                3,
                "pc1",
                "self_update",
                "2026-01-31T10:00:00Z",
                serde_json::json!({"from": "0.1.0", "to": "0.2.0"}),
            ),
        ];
        FleetState {
            agents,
            groups,
            config,
            obs,
            ..FleetState::default()
        }
    }
}

fn fleet_routes(state: Shared) -> axum::Router<Shared> {
    axum::Router::new()
        .route("/api/agents", get(fleet_agents))
        .route("/api/agents/versions", get(fleet_versions))
        .route("/api/agents/{pc}", get(fleet_agent))
        .route("/api/agents/{pc}/ping", post(fleet_ping))
        .route("/api/agents/{pc}/perf", get(fleet_agent_perf))
        .route("/api/agents/{pc}/effective_config", get(fleet_effective))
        .route("/api/groups", get(fleet_groups))
        .route(
            "/api/agents/{pc}/groups",
            get(fleet_agent_groups).put(fleet_set_groups),
        )
        .route(
            "/api/agents/{pc}/groups/{group}",
            axum::routing::put(fleet_add_group).delete(fleet_remove_group),
        )
        .route(
            "/api/config/{scope}",
            get(fleet_get_config).patch(fleet_patch_config),
        )
        .route(
            "/api/freeze",
            get(fleet_freeze)
                .put(fleet_set_freeze)
                .delete(fleet_lift_freeze),
        )
        .route("/api/jobs/{id}/status", get(fleet_job_status))
        .route("/api/jobs/{id}/revoke", post(fleet_revoke))
        .route("/api/jobs/{id}/unrevoke", post(fleet_unrevoke))
        .route(
            "/api/agent-releases",
            get(fleet_releases).post(fleet_publish),
        )
        .route(
            "/api/agent-releases/{key}",
            axum::routing::delete(fleet_delete_release),
        )
        .route("/api/obs_events", get(fleet_obs))
        .route("/api/perf/fleet", get(fleet_perf))
        .route("/api/perf/top", get(fleet_top))
        .route_layer(axum::middleware::from_fn_with_state(state, record_request))
}

/// Records the request (body included) before the route sees it.
async fn record_request(
    State(state): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let query = parts
        .uri
        .query()
        .map(|q| {
            url_pairs(q)
                .into_iter()
                .collect::<BTreeMap<String, String>>()
        })
        .unwrap_or_default();
    state.lock().unwrap().fleet.seen.push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query,
        body: serde_json::from_slice(&bytes).ok(),
        body_len: bytes.len(),
    });
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// `a=1&b=x%20y` decoded (through a URL, which knows the form encoding).
fn url_pairs(query: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://x/?{query}")).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The caller's role, or the refusal (401 without a known token, 403 below `needed`).
fn fleet_caller(state: &Fake, headers: &HeaderMap, needed: Role) -> Result<Role, Refusal> {
    let token = bearer(headers);
    let role = match token {
        None if state.token.is_none() => Role::Admin,
        None => {
            return Err(Box::new(coded(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "sign in first",
            )));
        }
        Some(token) => {
            let from_token = ROLE_TOKENS
                .iter()
                .find(|(t, _)| *t == token)
                .map(|(_, role)| *role);
            match from_token {
                Some(role) => role,
                None => {
                    let name = caller(state, headers, false)?;
                    state.users[&name].role
                }
            }
        }
    };
    let rank = |r: Role| match r {
        Role::Viewer => 0,
        Role::Operator => 1,
        Role::Admin => 2,
    };
    if rank(role) < rank(needed) {
        return Err(Box::new(coded(
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!(
                "this needs the {} role; you are {}",
                needed.as_str(),
                role.as_str()
            ),
        )));
    }
    Ok(role)
}

/// Returns the refusal from the handler unless the caller has the `needed` role.
macro_rules! allowed {
    ($state:expr, $headers:expr, $needed:expr) => {
        if let Err(response) = fleet_caller(&$state, &$headers, $needed) {
            return *response;
        }
    };
}

fn invalid_pc(pc: &str) -> Option<Response> {
    (!kanade_protocol::subject::is_valid_token(pc)).then(|| {
        coded(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("`{pc}` is not a valid machine id"),
        )
    })
}

async fn fleet_agents(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    let sort = q.get("sort").map(String::as_str).unwrap_or("pc_id");
    if !SORTABLE.contains(&sort) {
        return coded(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!(
                "cannot sort by `{sort}`; use one of {}",
                SORTABLE.join(", ")
            ),
        );
    }
    let descending = match q.get("order").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return coded(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("order must be asc or desc, not `{other}`"),
            );
        }
    };
    let fleet = &state.fleet;
    let text = q.get("q").map(|t| t.to_lowercase());
    let mut rows: Vec<AgentRow> = fleet
        .agents
        .values()
        .filter(|a| {
            text.as_ref().is_none_or(|t| {
                a.pc_id.to_lowercase().contains(t) || a.hostname.to_lowercase().contains(t)
            })
        })
        .filter(|a| q.get("online").is_none_or(|o| *o == a.online.to_string()))
        .filter(|a| q.get("os").is_none_or(|o| *o == a.os_family))
        .filter(|a| q.get("version").is_none_or(|v| *v == a.agent_version))
        .filter(|a| {
            q.get("group")
                .is_none_or(|g| fleet.groups.get(&a.pc_id).is_some_and(|gs| gs.contains(g)))
        })
        .cloned()
        .collect();
    let key = |a: &AgentRow| -> String {
        let v = serde_json::to_value(a).unwrap();
        match &v[sort] {
            serde_json::Value::String(s) => s.clone(),
            other => format!("{:>20}", other.to_string()),
        }
    };
    rows.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.pc_id.cmp(&b.pc_id)));
    if descending {
        rows.reverse();
    }
    let total = rows.len() as u64;
    let limit: u32 = q.get("limit").map_or(50, |l| l.parse().unwrap());
    let offset: u64 = q.get("offset").map_or(0, |o| o.parse().unwrap());
    let items = rows
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    Json(Page {
        items,
        total,
        limit,
        offset,
    })
    .into_response()
}

async fn fleet_versions(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for a in state.fleet.agents.values() {
        let entry = counts.entry(a.agent_version.clone()).or_default();
        entry.0 += 1;
        entry.1 += u64::from(a.online);
    }
    let out: Vec<VersionCount> = counts
        .into_iter()
        .rev()
        .map(|(agent_version, (machines, online))| VersionCount {
            agent_version,
            machines,
            online,
        })
        .collect();
    Json(out).into_response()
}

async fn fleet_agent(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(pc): Path<String>,
) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    let Some(row) = state.fleet.agents.get(&pc) else {
        return coded(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("machine {pc} not found"),
        );
    };
    let mut row = row.clone();
    row.groups = state.fleet.groups.get(&pc).cloned().unwrap_or_default();
    Json(row).into_response()
}

async fn fleet_ping(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(pc): Path<String>,
) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    if let Some(refusal) = invalid_pc(&pc) {
        return refusal;
    }
    let answer = state
        .fleet
        .agents
        .get(&pc)
        .filter(|a| a.pc_id != SILENT_PC)
        .map(|a| Heartbeat {
            pc_id: pc.clone(),
            at: Utc::now(),
            agent_version: a.agent_version.clone(),
            hostname: a.hostname.clone(),
            os_family: a.os_family.clone(),
            os_version: a.os_version.clone(),
            agent_cpu_pct: a.agent_cpu_pct,
            agent_rss_bytes: a.agent_rss_bytes,
            quarantined_versions: Vec::new(),
            ..Default::default()
        });
    Json(PingResult {
        pc_id: pc,
        answered: answer.is_some(),
        rtt_ms: answer.as_ref().map(|_| 3.21),
        heartbeat: answer,
    })
    .into_response()
}

async fn fleet_groups(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for groups in state.fleet.groups.values() {
        for g in groups {
            *counts.entry(g.clone()).or_default() += 1;
        }
    }
    let out: Vec<GroupSummary> = counts
        .into_iter()
        .map(|(name, members)| GroupSummary { name, members })
        .collect();
    Json(out).into_response()
}

async fn fleet_agent_groups(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(pc): Path<String>,
) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    if let Some(refusal) = invalid_pc(&pc) {
        return refusal;
    }
    let groups = state.fleet.groups.get(&pc).cloned().unwrap_or_default();
    Json(GroupList { groups }).into_response()
}

/// Applies `edit` to the machine's groups like the real route (sorted, deduplicated). A
/// machine not in the fleet is 404 unless `allow_unknown` (the real route's pre-staging).
fn edit_groups(
    state: &mut Fake,
    pc: &str,
    allow_unknown: bool,
    edit: impl FnOnce(Vec<String>) -> Vec<String>,
) -> Response {
    if let Some(refusal) = invalid_pc(pc) {
        return refusal;
    }
    if !allow_unknown && !state.fleet.agents.contains_key(pc) {
        return coded(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!(
                "machine {pc} was never seen (no heartbeat, not enrolled); set allow_unknown=true to put it in groups before it enrolls"
            ),
        );
    }
    if pc == CONTENDED_PC {
        return coded(
            StatusCode::CONFLICT,
            "conflict",
            &format!("the groups of {pc} changed while they were written; try again"),
        );
    }
    let current = state.fleet.groups.get(pc).cloned().unwrap_or_default();
    let mut groups = edit(current);
    groups.sort();
    groups.dedup();
    if let Err(err) = kanade_protocol::api::check_group_names(&groups) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &err.to_string(),
            err.field(),
        );
    }
    match groups.is_empty() {
        true => state.fleet.groups.remove(pc),
        false => state.fleet.groups.insert(pc.to_owned(), groups.clone()),
    };
    Json(GroupList { groups }).into_response()
}

async fn fleet_set_groups(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(pc): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    Json(req): Json<GroupList>,
) -> Response {
    let mut state = state.lock().unwrap();
    allowed!(state, headers, Role::Operator);
    edit_groups(&mut state, &pc, staged(&q), |_| req.groups)
}

/// `?allow_unknown=true`.
fn staged(q: &BTreeMap<String, String>) -> bool {
    q.get("allow_unknown").is_some_and(|v| v == "true")
}

async fn fleet_add_group(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((pc, group)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    allowed!(state, headers, Role::Operator);
    edit_groups(&mut state, &pc, staged(&q), |mut current| {
        current.push(group);
        current
    })
}

async fn fleet_remove_group(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((pc, group)): Path<(String, String)>,
) -> Response {
    let mut state = state.lock().unwrap();
    allowed!(state, headers, Role::Operator);
    edit_groups(&mut state, &pc, true, |current| {
        current.into_iter().filter(|g| *g != group).collect()
    })
}

/// The real route's scope check: `global`, `groups.<g>`, `pcs.<pc>` (and the singulars).
fn scope_key(scope: &str) -> Result<String, Refusal> {
    let refuse = |message: String| {
        let body = ErrorBody {
            error: ErrorDetail {
                code: "bad_request".to_owned(),
                message,
                field: Some("scope".to_owned()),
            },
        };
        Box::new((StatusCode::BAD_REQUEST, Json(body)).into_response())
    };
    if scope == "global" {
        return Ok(scope.to_owned());
    }
    let Some((kind, name)) = scope.split_once('.') else {
        return Err(refuse(format!("`{scope}` is not a scope")));
    };
    if !kanade_protocol::subject::is_valid_token(name) {
        return Err(refuse(format!(
            "`{name}` is not a valid group or machine name"
        )));
    }
    match kind {
        "groups" | "group" => Ok(format!("groups.{name}")),
        "pcs" | "pc" => Ok(format!("pcs.{name}")),
        _ => Err(refuse(format!("`{scope}` is not a scope"))),
    }
}

async fn fleet_get_config(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(scope): Path<String>,
) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    let key = match scope_key(&scope) {
        Ok(key) => key,
        Err(refusal) => return *refusal,
    };
    Json(state.fleet.config.get(&key).cloned().unwrap_or_default()).into_response()
}

async fn fleet_patch_config(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(scope): Path<String>,
    Json(patch): Json<serde_json::Map<String, serde_json::Value>>,
) -> Response {
    let mut state = state.lock().unwrap();
    allowed!(state, headers, Role::Operator);
    let key = match scope_key(&scope) {
        Ok(key) => key,
        Err(refusal) => return *refusal,
    };
    if let Some(unknown) = patch.keys().find(|k| !CONFIG_FIELDS.contains(&k.as_str())) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("{unknown}: unknown config field"),
            Some(unknown),
        );
    }
    let current = state.fleet.config.get(&key).cloned().unwrap_or_default();
    let mut doc = serde_json::to_value(current).unwrap();
    let object = doc.as_object_mut().unwrap();
    for (field, value) in patch {
        match value {
            serde_json::Value::Null => object.remove(&field),
            other => object.insert(field, other),
        };
    }
    let scope: ConfigScope = match serde_json::from_value(doc) {
        Ok(scope) => scope,
        Err(err) => return error(StatusCode::BAD_REQUEST, &err.to_string(), None),
    };
    match scope == ConfigScope::default() {
        true => state.fleet.config.remove(&key),
        false => state.fleet.config.insert(key, scope.clone()),
    };
    Json(scope).into_response()
}

async fn fleet_effective(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(pc): Path<String>,
) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    if let Some(refusal) = invalid_pc(&pc) {
        return refusal;
    }
    let fleet = &state.fleet;
    let groups = fleet.groups.get(&pc).cloned().unwrap_or_default();
    let group_scopes: Vec<(String, ConfigScope)> = groups
        .iter()
        .filter_map(|g| {
            fleet
                .config
                .get(&format!("groups.{g}"))
                .map(|s| (g.clone(), s.clone()))
        })
        .collect();
    let pc_scope = fleet.config.get(&format!("pcs.{pc}"));
    let (effective, sources) = kanade_protocol::config::resolve(
        fleet.config.get("global"),
        &group_scopes,
        pc_scope.map(|s| (pc.as_str(), s)),
    );
    Json(EffectiveConfigView {
        pc_id: pc,
        groups,
        effective,
        sources,
    })
    .into_response()
}

fn freeze_status(freeze: Option<Freeze>) -> FreezeStatus {
    FreezeStatus {
        frozen: freeze.as_ref().is_some_and(|f| f.active(Utc::now())),
        freeze,
    }
}

async fn fleet_freeze(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    Json(freeze_status(state.fleet.freeze.clone())).into_response()
}

async fn fleet_set_freeze(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<FreezeRequest>,
) -> Response {
    let mut state = state.lock().unwrap();
    allowed!(state, headers, Role::Operator);
    if req
        .from
        .zip(req.until)
        .is_some_and(|(from, until)| from >= until)
    {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "until: must be after from",
            Some("until"),
        );
    }
    let by = bearer(&headers)
        .unwrap_or("anonymous")
        .trim_end_matches("-token");
    let freeze = Freeze {
        from: req.from,
        until: req.until,
        reason: req.reason,
        set_by: Some(by.to_owned()),
        set_at: Utc::now(),
    };
    state.fleet.freeze = Some(freeze.clone());
    Json(freeze_status(Some(freeze))).into_response()
}

async fn fleet_lift_freeze(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let mut state = state.lock().unwrap();
    allowed!(state, headers, Role::Operator);
    state.fleet.freeze = None;
    StatusCode::NO_CONTENT.into_response()
}

fn job_status(state: &Fake, id: &str) -> JobStatus {
    JobStatus {
        id: id.to_owned(),
        revoked: state.fleet.revoked.contains(id),
        pinned_version: state.jobs.get(id).map(|d| d.manifest.version.clone()),
    }
}

async fn fleet_job_status(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    Json(job_status(&state, &id)).into_response()
}

fn set_revoked(state: &mut Fake, headers: &HeaderMap, id: String, revoked: bool) -> Response {
    allowed!(state, headers, Role::Operator);
    match revoked {
        true => state.fleet.revoked.insert(id.clone()),
        false => state.fleet.revoked.remove(&id),
    };
    Json(job_status(state, &id)).into_response()
}

async fn fleet_revoke(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    set_revoked(&mut state.lock().unwrap(), &headers, id, true)
}

async fn fleet_unrevoke(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    set_revoked(&mut state.lock().unwrap(), &headers, id, false)
}

async fn fleet_releases(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    let out: Vec<AgentRelease> = state.fleet.releases.values().rev().cloned().collect();
    Json(out).into_response()
}

async fn fleet_publish(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let mut state = state.lock().unwrap();
    let role = match fleet_caller(&state, &headers, Role::Admin) {
        Ok(role) => role,
        Err(response) => return *response,
    };
    let Some(version) = q.get("version") else {
        return error(StatusCode::BAD_REQUEST, "missing field `version`", None);
    };
    let platform = q
        .get("platform")
        .cloned()
        .unwrap_or_else(|| "linux-x86_64".to_owned());
    if body.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be the agent binary",
            None,
        );
    }
    let executable = [&b"\x7fELF"[..], b"MZ", b"\xcf\xfa\xed\xfe"]
        .iter()
        .any(|magic| body.starts_with(magic));
    if !executable {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "body: not an executable (no ELF, PE or Mach-O header)",
            Some("body"),
        );
    }
    let hashed: &[u8] = if version == "tampered" {
        b"other"
    } else {
        &body
    };
    let sha256 = sha2::Sha256::digest(hashed)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = format!("{version}-{platform}");
    let release = AgentRelease {
        key: key.clone(),
        version: version.clone(),
        platform,
        size: body.len() as u64,
        sha256,
        published_by: Some(role.as_str().to_owned()),
    };
    state.fleet.releases.insert(key, release.clone());
    (StatusCode::CREATED, Json(release)).into_response()
}

async fn fleet_delete_release(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let mut state = state.lock().unwrap();
    allowed!(state, headers, Role::Admin);
    match state.fleet.releases.remove(&key) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => coded(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("release {key} not found"),
        ),
    }
}

async fn fleet_obs(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    let time = |k: &str| q.get(k).map(|t| t.parse::<DateTime<Utc>>().unwrap());
    let (from, to) = (time("from"), time("to"));
    let mut items: Vec<ObsEntry> = state
        .fleet
        .obs
        .iter()
        .filter(|e| q.get("pc_id").is_none_or(|p| *p == e.pc_id))
        .filter(|e| q.get("kind").is_none_or(|k| *k == e.kind))
        .filter(|e| q.get("source").is_none_or(|s| *s == e.source))
        .filter(|e| from.is_none_or(|f| e.at >= f))
        .filter(|e| to.is_none_or(|t| e.at <= t))
        .cloned()
        .collect();
    items.reverse();
    let total = items.len() as u64;
    let limit: u32 = q.get("limit").map_or(50, |l| l.parse().unwrap());
    items.truncate(limit as usize);
    Json(Page {
        items,
        total,
        limit,
        offset: 0,
    })
    .into_response()
}

fn perf_point(at: &str, cpu: f64) -> PerfPoint {
    PerfPoint {
        at: at.parse().unwrap(),
        samples: 5,
        cpu_pct: cpu,
        mem_used_bytes: 2.0 * 1024.0 * 1024.0 * 1024.0,
        mem_total_bytes: 8.0 * 1024.0 * 1024.0 * 1024.0,
        swap_used_bytes: 0.0,
        disk_read_bytes_per_sec: 1536.0,
        disk_written_bytes_per_sec: 0.0,
        net_rx_bytes_per_sec: 2048.0,
        net_tx_bytes_per_sec: 512.0,
    }
}

async fn fleet_agent_perf(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(pc): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    let to = q.get("to").map_or_else(Utc::now, |t| t.parse().unwrap());
    let from = q
        .get("from")
        .map_or(to - chrono::TimeDelta::hours(1), |t| t.parse().unwrap());
    let points = match pc.as_str() {
        "pc1" => vec![
            perf_point("2026-01-31T17:00:00Z", 12.5),
            perf_point("2026-01-31T17:05:00Z", 50.0),
        ],
        _ => Vec::new(),
    };
    Json(PerfSeries {
        pc_id: pc,
        from,
        to,
        step_secs: q.get("step").map_or(60, |s| s.parse().unwrap()),
        points,
    })
    .into_response()
}

async fn fleet_perf(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    Json(FleetPerf {
        machines: 2,
        cpu_p50: 10.0,
        cpu_p90: 40.0,
        cpu_p99: 55.5,
        mem_pct_p50: 25.0,
        mem_pct_p90: 60.0,
        mem_pct_p99: 61.0,
        step_secs: 300,
        series: vec![FleetPoint {
            at: "2026-01-31T17:00:00Z".parse().unwrap(),
            machines: 2,
            cpu_avg: 20.0,
            cpu_max: 55.5,
            mem_pct_avg: 30.0,
            mem_pct_max: 61.0,
        }],
    })
    .into_response()
}

async fn fleet_top(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let state = state.lock().unwrap();
    allowed!(state, headers, Role::Viewer);
    let metric = q.get("metric").map(String::as_str).unwrap_or("cpu");
    let values: [(&str, f64, f64); 4] = [
        ("cpu", 55.5, 10.0),
        ("mem", 61.0, 25.0),
        ("disk", 4096.0, 1024.0),
        ("net", 2.0 * 1024.0 * 1024.0, 512.0),
    ];
    let Some((_, first, second)) = values.iter().find(|(m, _, _)| *m == metric) else {
        return coded(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("unknown metric `{metric}`; use cpu, mem, disk or net"),
        );
    };
    let at: DateTime<Utc> = "2026-01-31T17:59:30Z".parse().unwrap();
    let mut out = vec![
        TopEntry {
            pc_id: "web-3".to_owned(),
            at,
            value: *first,
        },
        TopEntry {
            pc_id: "pc1".to_owned(),
            at,
            value: *second,
        },
    ];
    let limit: usize = q.get("limit").map_or(10, |l| l.parse().unwrap());
    out.truncate(limit);
    Json(out).into_response()
}
