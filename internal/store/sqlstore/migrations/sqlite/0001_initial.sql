-- Sluice's tables. River keeps its own (river_*) in the same database.
-- Times are unix microseconds, UTC.

CREATE TABLE runs (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	kind TEXT NOT NULL CHECK (kind IN ('plan', 'apply')),
	repo TEXT NOT NULL,
	mr BIGINT NOT NULL,
	project TEXT NOT NULL,
	workspace TEXT NOT NULL,
	head_sha TEXT NOT NULL,
	base_sha TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
	actor TEXT NOT NULL,
	owner TEXT NOT NULL DEFAULT '',
	plan_id BIGINT NOT NULL DEFAULT 0,
	error_message TEXT NOT NULL DEFAULT '',
	state_lock_id TEXT NOT NULL DEFAULT '',
	summary BLOB,
	created_at BIGINT NOT NULL,
	started_at BIGINT,
	finished_at BIGINT,
	-- last_log_seq is the Seq of the run's last log line: AppendLogs
	-- advances it in the transaction that inserts the lines.
	last_log_seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX runs_repo_mr ON runs (repo, mr, id);
CREATE INDEX runs_state ON runs (state, id);
CREATE INDEX runs_plan ON runs (plan_id) WHERE plan_id <> 0;

CREATE TABLE run_logs (
	run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	seq BIGINT NOT NULL,
	stream TEXT NOT NULL,
	line TEXT NOT NULL,
	at BIGINT NOT NULL,
	PRIMARY KEY (run_id, seq)
);

CREATE TABLE plans (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	run_id BIGINT NOT NULL,
	repo TEXT NOT NULL,
	mr BIGINT NOT NULL,
	project TEXT NOT NULL,
	workspace TEXT NOT NULL,
	head_sha TEXT NOT NULL,
	base_sha TEXT NOT NULL,
	artifact_sha256 TEXT NOT NULL,
	sealed BLOB,
	normalized BLOB,
	has_changes BOOLEAN NOT NULL,
	created_at BIGINT NOT NULL,
	discarded BOOLEAN NOT NULL DEFAULT FALSE,
	applied_run_id BIGINT
);
CREATE INDEX plans_mr ON plans (repo, mr, project, workspace, id);
-- At most one live plan per project of an MR.
CREATE UNIQUE INDEX plans_live ON plans (repo, mr, project, workspace) WHERE NOT discarded;

CREATE TABLE locks (
	repo TEXT NOT NULL,
	project TEXT NOT NULL,
	workspace TEXT NOT NULL,
	mr BIGINT NOT NULL,
	acquired_at BIGINT NOT NULL,
	PRIMARY KEY (repo, project, workspace)
);
CREATE INDEX locks_mr ON locks (repo, mr);

CREATE TABLE lock_queue (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	repo TEXT NOT NULL,
	project TEXT NOT NULL,
	workspace TEXT NOT NULL,
	mr BIGINT NOT NULL,
	enqueued_at BIGINT NOT NULL,
	UNIQUE (repo, project, workspace, mr)
);
CREATE INDEX lock_queue_order ON lock_queue (repo, project, workspace, id);
CREATE INDEX lock_queue_mr ON lock_queue (repo, mr);

CREATE TABLE events (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	forge TEXT NOT NULL,
	-- NULL, not '', when absent, so that absent keys never collide.
	delivery_id TEXT,
	semantic_key TEXT,
	kind TEXT NOT NULL,
	payload BLOB,
	received_at BIGINT NOT NULL,
	processed_at BIGINT,
	UNIQUE (forge, delivery_id),
	UNIQUE (semantic_key)
);
CREATE INDEX events_pending ON events (received_at, id) WHERE processed_at IS NULL;

CREATE TABLE audit (
	seq BIGINT PRIMARY KEY,
	at BIGINT NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	subject TEXT NOT NULL,
	details BLOB,
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TABLE instances (
	name TEXT PRIMARY KEY,
	seen_at BIGINT NOT NULL
);
