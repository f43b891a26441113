//! A small HTTP peer speaking the backend's API on a loopback port, just enough to drive the
//! client and `exec --wait`: jobs in memory, and an execution whose results arrive one per poll;
//! and sign-in, accounts, audit and MFA with the real routes' status codes and error codes.
//! (The real backend is exercised by the end-to-end tests in kanade-testkit.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use kanade_protocol::api::{
    Account, AccountPatch, AuditEntry, ChangePasswordRequest, ErrorBody, ErrorDetail, ExecRequest,
    ExecResponse, ExecutionDetail, ExecutionSummary, Health, JobDetail, JobSummary, LoginRequest,
    LoginResponse, Me, MfaCode, MfaInit, NewAccount, Page, ResultDetail, ResultSummary, Role,
};
use kanade_protocol::manifest::Manifest;

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
    StatusCode::NO_CONTENT.into_response()
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
    };
    Json(ExecutionDetail { execution, results }).into_response()
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
        hint_errors: Vec::new(),
    })
    .into_response()
}
