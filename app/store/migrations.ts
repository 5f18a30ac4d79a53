/**
 * Forward-only, versioned schema migrations. Each runs in its own transaction, so an interrupted start
 * leaves the database at the previous version, never half-migrated. Never edit a migration that has
 * shipped: add the next one.
 *
 * Times are unix milliseconds (INTEGER) unless a column says otherwise; secrets are sealed by SecretBox.
 */
export interface Migration {
  version: number;
  name: string;
  /** SQLite's DDL; PostgreSQL runs its mechanical translation (migrate-sql.ts postgresDdl) unless `postgres` is given. */
  sql: string;
  /** PostgreSQL's DDL, where the translation of `sql` would not do. */
  postgres?: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'portals, connections, links, jobs, activity log, settings, watermarks',
    sql: `
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );

      -- portal: one Bitrix24 installation of the app
      CREATE TABLE portals (
        member_id          TEXT PRIMARY KEY,
        domain             TEXT NOT NULL,
        client_endpoint    TEXT NOT NULL,
        server_endpoint    TEXT NOT NULL,
        access_token       TEXT,            -- sealed
        refresh_token      TEXT,            -- sealed
        expires_at         INTEGER,         -- unix seconds, absolute
        application_token  TEXT,            -- sealed
        scope              TEXT,
        installed_by       INTEGER,
        state              TEXT NOT NULL DEFAULT 'installed'
                           CHECK (state IN ('installing', 'installed', 'uninstalled')),
        installed_at       INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL
      );

      -- connection: one authorised Xero organisation tied to a portal
      CREATE TABLE connections (
        id                 INTEGER PRIMARY KEY,
        member_id          TEXT NOT NULL REFERENCES portals(member_id) ON DELETE CASCADE,
        tenant_id          TEXT NOT NULL,
        tenant_name        TEXT,
        tenant_type        TEXT,
        xero_connection_id TEXT,
        grant_type         TEXT NOT NULL CHECK (grant_type IN ('authorization_code', 'client_credentials')),
        access_token       TEXT,            -- sealed
        refresh_token      TEXT,            -- sealed
        expires_at         INTEGER,         -- unix seconds, absolute
        scope              TEXT,
        state              TEXT NOT NULL DEFAULT 'active'
                           CHECK (state IN ('active', 'needs_reconnect', 'disconnected')),
        state_reason       TEXT,
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL,
        UNIQUE (member_id, tenant_id)
      );

      -- link: one Bitrix24 object mapped to one Xero object
      CREATE TABLE links (
        id                 INTEGER PRIMARY KEY,
        member_id          TEXT NOT NULL REFERENCES portals(member_id) ON DELETE CASCADE,
        connection_id      INTEGER REFERENCES connections(id) ON DELETE SET NULL,
        b24_type           TEXT NOT NULL,   -- smart_invoice | invoice | quote | company | contact | product
        b24_id             TEXT NOT NULL,
        xero_type          TEXT NOT NULL,   -- invoice | quote | contact | item
        xero_id            TEXT NOT NULL,
        xero_number        TEXT,
        content_hash       TEXT,            -- hash of the Bitrix24 content last pushed
        xero_status        TEXT,
        xero_updated_at    INTEGER,
        last_synced_at     INTEGER NOT NULL,
        UNIQUE (member_id, b24_type, b24_id)
      );
      CREATE INDEX links_by_xero ON links (connection_id, xero_type, xero_id);

      -- job: one unit of sync work in the outbox
      CREATE TABLE jobs (
        id                 INTEGER PRIMARY KEY,
        member_id          TEXT REFERENCES portals(member_id) ON DELETE CASCADE,
        kind               TEXT NOT NULL,
        job_key            TEXT NOT NULL,
        payload            TEXT NOT NULL DEFAULT '{}',
        state              TEXT NOT NULL DEFAULT 'pending'
                           CHECK (state IN ('pending', 'running', 'done', 'needs_attention', 'paused', 'cancelled')),
        revision           INTEGER NOT NULL DEFAULT 1,  -- bumped when a newer state is coalesced in
        attempts           INTEGER NOT NULL DEFAULT 0,
        run_at             INTEGER NOT NULL,
        locked_at          INTEGER,
        last_error         TEXT,
        last_error_code    TEXT,
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL
      );
      CREATE UNIQUE INDEX jobs_live_key ON jobs (job_key)
        WHERE state IN ('pending', 'running', 'paused', 'needs_attention');
      CREATE INDEX jobs_due ON jobs (state, run_at);

      -- activity log: what happened, for people (dashboard, invoice card)
      CREATE TABLE activity_log (
        id                 INTEGER PRIMARY KEY,
        member_id          TEXT REFERENCES portals(member_id) ON DELETE CASCADE,
        level              TEXT NOT NULL CHECK (level IN ('info', 'warn', 'error')),
        kind               TEXT NOT NULL,
        subject            TEXT,            -- e.g. smart_invoice:42
        message            TEXT NOT NULL,
        details            TEXT,            -- JSON, never secrets
        created_at         INTEGER NOT NULL
      );
      CREATE INDEX activity_by_time ON activity_log (member_id, created_at);
      CREATE INDEX activity_by_subject ON activity_log (member_id, subject, created_at);

      -- settings: per-portal options edited by the admin
      CREATE TABLE settings (
        member_id          TEXT NOT NULL REFERENCES portals(member_id) ON DELETE CASCADE,
        key                TEXT NOT NULL,
        value              TEXT NOT NULL,   -- JSON
        updated_at         INTEGER NOT NULL,
        PRIMARY KEY (member_id, key)
      );

      -- watermark: the high-water mark of an incremental pull
      CREATE TABLE watermarks (
        scope              TEXT NOT NULL,   -- e.g. connection:3, portal:abc
        name               TEXT NOT NULL,   -- e.g. xero.invoices, b24.smart_invoices
        value              TEXT NOT NULL,
        updated_at         INTEGER NOT NULL,
        PRIMARY KEY (scope, name)
      );
    `,
  },
  {
    version: 2,
    name: 'xero consents: single-use OAuth states and pending tenant choices',
    sql: `
      -- A consent step in flight: the OAuth state of one "Connect Xero" click, or the organisations
      -- offered after it when several were authorised. Single-use and short-lived.
      CREATE TABLE xero_consents (
        id                 TEXT PRIMARY KEY,    -- random, unguessable
        member_id          TEXT NOT NULL REFERENCES portals(member_id) ON DELETE CASCADE,
        purpose            TEXT NOT NULL CHECK (purpose IN ('state', 'tenant_choice')),
        user_id            INTEGER,
        payload            TEXT,                -- sealed JSON (tokens and tenants for a choice)
        expires_at         INTEGER NOT NULL,
        created_at         INTEGER NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: 'links: status pull state (amount paid, stage set by the sync, expected echo, paid trigger)',
    sql: `
      -- What the Xero → Bitrix24 status pull last saw and did on a linked document.
      ALTER TABLE links ADD COLUMN xero_amount_paid   TEXT;     -- decimal text, e.g. "500.00"
      ALTER TABLE links ADD COLUMN sync_stage_id      TEXT;     -- the stage (or classic STATUS_ID) the sync last moved it to
      ALTER TABLE links ADD COLUMN echo_stage_id      TEXT;     -- the stage the document had after the sync's last write
      ALTER TABLE links ADD COLUMN echo_expected_at   INTEGER;  -- when that write was made; cleared once its echo is seen
      ALTER TABLE links ADD COLUMN paid_trigger_at    INTEGER;  -- when "Paid in Xero" fired (at most once per link)
    `,
  },
  {
    version: 4,
    name: 'links: the Bitrix24 stage the push last saw',
    sql: `
      -- Lets the push tell a stage a person chose (act on it in Xero) from one it already handled.
      ALTER TABLE links ADD COLUMN b24_stage_id TEXT;
    `,
  },
  {
    version: 5,
    name: 'sends: documents sent to Xero whose answer is not recorded yet',
    sql: `
      -- Written just before a document goes to Xero, removed in the transaction that links it. A row left behind
      -- (a crash between sending and saving) makes the next push look the document up in Xero first.
      CREATE TABLE sends (
        member_id          TEXT NOT NULL REFERENCES portals(member_id) ON DELETE CASCADE,
        b24_type           TEXT NOT NULL,
        b24_id             TEXT NOT NULL,
        sent_at            INTEGER NOT NULL,
        PRIMARY KEY (member_id, b24_type, b24_id)
      );
    `,
  },
  {
    version: 6,
    name: 'import runs and their records; leases; contact details last synced on links',
    sql: `
      -- import run: one "Import from Xero" job (slider or command line). The plan (preview) is written first as
      -- import_records; running works through them in order, so a restarted run continues where it stopped.
      CREATE TABLE import_runs (
        id                 INTEGER PRIMARY KEY,
        member_id          TEXT NOT NULL REFERENCES portals(member_id) ON DELETE CASCADE,
        connection_id      INTEGER REFERENCES connections(id) ON DELETE SET NULL,
        what               TEXT NOT NULL,          -- JSON list: companies, contacts, products
        include_archived   INTEGER NOT NULL DEFAULT 0,
        state              TEXT NOT NULL DEFAULT 'planning'
                           CHECK (state IN ('planning', 'previewed', 'running', 'cancelled', 'done', 'failed')),
        progress           TEXT NOT NULL DEFAULT '{}', -- JSON: phase, pages read, records written
        error              TEXT,
        started_by         TEXT,                   -- user id, or 'cli'
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL,
        finished_at        INTEGER
      );
      CREATE INDEX import_runs_by_portal ON import_runs (member_id, id);

      -- import record: one Xero record of a run and what the plan does with it
      CREATE TABLE import_records (
        run_id             INTEGER NOT NULL REFERENCES import_runs(id) ON DELETE CASCADE,
        seq                INTEGER NOT NULL,
        b24_type           TEXT NOT NULL,          -- company | contact | product
        xero_type          TEXT NOT NULL,          -- contact | contact_person | item
        xero_id            TEXT NOT NULL,
        name               TEXT NOT NULL,
        action             TEXT NOT NULL CHECK (action IN ('create', 'link', 'update', 'skip', 'fail')),
        b24_id             TEXT,                   -- the Bitrix24 record linked, updated or (once written) created
        parent_seq         INTEGER,                -- a person's company record
        payload            TEXT,                   -- JSON: what is written to Bitrix24
        reason             TEXT,                   -- why skipped or failing
        state              TEXT NOT NULL DEFAULT 'planned' CHECK (state IN ('planned', 'sending', 'done', 'failed')),
        PRIMARY KEY (run_id, seq)
      );
      CREATE INDEX import_records_todo ON import_records (run_id, state, seq);

      -- lease: a short cross-process lock (e.g. around a token renewal), held until expires_at (unix ms)
      CREATE TABLE leases (
        name               TEXT PRIMARY KEY,
        holder             TEXT NOT NULL,
        expires_at         INTEGER NOT NULL
      );

      -- The contact details both sides last agreed on (JSON), so each change is told field by field and the
      -- connector's own writes come back as no change.
      ALTER TABLE links ADD COLUMN contact_fields TEXT;
    `,
  },
  {
    version: 7,
    name: 'links: a note the card shows (e.g. the rounding line the push added)',
    sql: `
      -- Words about how the Xero object was built, shown on the document's Xero tab; null when there is nothing to say.
      ALTER TABLE links ADD COLUMN note TEXT;
    `,
  },
  {
    version: 8,
    name: 'jobs: the request that caused the job',
    sql: `
      -- The request id of the HTTP request that enqueued (or last coalesced into) the job; the worker logs with it.
      ALTER TABLE jobs ADD COLUMN request_id TEXT;
    `,
  },
  {
    version: 9,
    name: 'portals: purge after a grace period, operator-approved move to another endpoint',
    sql: `
      -- A portal uninstalled with CLEAN keeps its data until purge_at (restorable by an operator until then).
      ALTER TABLE portals ADD COLUMN purge_at INTEGER;
      -- 1 once an operator allowed this uninstalled member_id to be installed again at another endpoint.
      ALTER TABLE portals ADD COLUMN relocation_allowed INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 10,
    name: 'import matching directory: the Bitrix24 records an import run matches against, on disk',
    sql: `
      -- import directory: the portal's companies, contacts and products read by one import run's preview, kept here
      -- (not in memory) while the plan is made, and cleared when the preview ends. data is the compact record (JSON).
      CREATE TABLE import_directory (
        run_id             INTEGER NOT NULL REFERENCES import_runs(id) ON DELETE CASCADE,
        kind               TEXT NOT NULL,          -- company | contact | product
        b24_id             TEXT NOT NULL,
        data               TEXT NOT NULL,
        PRIMARY KEY (run_id, kind, b24_id)
      ) WITHOUT ROWID;

      -- import directory key: one match key of a directory record (xero key, exact name, e-mail, item code), and the
      -- names the run already planned (kind 'planned:company', b24_id '') to tell duplicates apart.
      CREATE TABLE import_directory_keys (
        run_id             INTEGER NOT NULL REFERENCES import_runs(id) ON DELETE CASCADE,
        kind               TEXT NOT NULL,
        key_type           TEXT NOT NULL,          -- xero | name | email | code
        key                TEXT NOT NULL,
        b24_id             TEXT NOT NULL,
        PRIMARY KEY (run_id, kind, key_type, key, b24_id)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 11,
    name: "portals: the first install on Bitrix24's clock; event tallies per portal and minute",
    sql: `
      -- When the app was first installed on the portal, on the portal's own clock (server.time, unix ms): documents
      -- created and last changed before it are left to the admin's backfill. Null for portals installed before it was
      -- kept (installed_at, on the connector's clock, stands in). A reinstall keeps it.
      ALTER TABLE portals ADD COLUMN b24_installed_at INTEGER;
      -- How far the portal's clock runs ahead of the connector's (ms, negative: behind), as server.time last showed it:
      -- an event's ts is on the portal's clock.
      ALTER TABLE portals ADD COLUMN b24_clock_offset_ms INTEGER NOT NULL DEFAULT 0;

      -- event tally: what a portal's events caused, counted per minute (unix ms of the minute's start): new jobs queued
      -- for unlinked documents ('new_job', capped per minute) and events dropped ('dropped:<reason>').
      CREATE TABLE event_tallies (
        member_id          TEXT NOT NULL REFERENCES portals(member_id) ON DELETE CASCADE,
        minute             INTEGER NOT NULL,
        what               TEXT NOT NULL,
        n                  INTEGER NOT NULL,
        PRIMARY KEY (member_id, minute, what)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 12,
    name: "xero limits: each process's last view of a connection's minute and day, for the next start",
    sql: `
      -- xero limits: what a process last knew of Xero's limits for a connection (xero/gateway.ts), so a gateway made
      -- after a restart (or by another process on the same store) starts from it instead of an empty minute.
      CREATE TABLE xero_limits (
        connection_id      INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        holder             TEXT NOT NULL,          -- the process (leases.ts PROCESS_HOLDER)
        minute_calls       TEXT NOT NULL,          -- JSON: epoch ms of each call in the minute window, oldest first
        paused_until       INTEGER NOT NULL DEFAULT 0,
        minute_remaining   INTEGER,                -- X-MinLimit-Remaining of the last answer
        day_remaining      INTEGER,                -- X-DayLimit-Remaining of the last answer, less the calls since
        day_read_at        INTEGER,                -- when Xero said it
        day_spent_until    INTEGER NOT NULL DEFAULT 0,
        updated_at         INTEGER NOT NULL,
        PRIMARY KEY (connection_id, holder)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 13,
    name: 'import records: when their batch went out, and which of their parts Bitrix24 already holds',
    sql: `
      -- When the batch carrying the record was sent (a lost answer is looked up once that batch can have ended).
      ALTER TABLE import_records ADD COLUMN sent_at INTEGER;
      -- JSON {part: Bitrix24 id}: the parts of a created record already in Bitrix24 (main, rq, a<type>, price), so a
      -- record whose batch was cut or partly blocked sends only what is missing.
      ALTER TABLE import_records ADD COLUMN written TEXT;
    `,
  },
  {
    version: 14,
    name: 'links: Xero\'s figures of a document as the last push or pull saw them; jobs: since when they need attention',
    sql: `
      -- The card tab shows these without asking Xero: the push writes them from Xero's answer, the status pull
      -- from each change it reads. xero_amount_paid (migration 3) is the paid figure; decimal text throughout.
      ALTER TABLE links ADD COLUMN xero_total         TEXT;
      ALTER TABLE links ADD COLUMN xero_amount_due    TEXT;
      ALTER TABLE links ADD COLUMN xero_currency      TEXT;
      ALTER TABLE links ADD COLUMN xero_due_date      TEXT;     -- YYYY-MM-DD: an invoice's due date, a quote's expiry
      ALTER TABLE links ADD COLUMN xero_figures_at    INTEGER;  -- when Xero's answer carrying them was read
      ALTER TABLE links ADD COLUMN xero_online_url    TEXT;     -- the online invoice's address, once Xero gave it
      -- When a job first stood for its present cause: a retry that meets the same cause again keeps it.
      ALTER TABLE jobs ADD COLUMN attention_since     INTEGER;
    `,
  },
  {
    version: 15,
    name: 'jobs: whether a job is likely the echo of the connector\'s own write-back, as a column both dialects filter by',
    sql: `
      -- 1 when the payload says likelyEcho (a write-back of ours coming back): claimed after the others. Written by
      -- enqueue with the payload; a column because PostgreSQL and SQLite share no JSON path function.
      ALTER TABLE jobs ADD COLUMN likely_echo INTEGER NOT NULL DEFAULT 0;
      UPDATE jobs SET likely_echo = 1 WHERE json_extract(payload, '$.likelyEcho') = 1;
    `,
    postgres: `
      ALTER TABLE jobs ADD COLUMN likely_echo BIGINT NOT NULL DEFAULT 0;
      UPDATE jobs SET likely_echo = 1 WHERE (payload::jsonb ->> 'likelyEcho') = 'true';
    `,
  },
];
