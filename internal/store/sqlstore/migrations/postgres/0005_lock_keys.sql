-- A lock is keyed by what it protects, a project's directory and
-- workspace, no longer by the project's name: a merge request that renamed
-- a project, or named a discovered one, planned it beside the lock another
-- merge request held. The name stays as a label (project), the name the
-- holder, or the waiter, gives the project. A plan run records its
-- project's directory (dir), the key of the lock it plans under.
--
-- Rows from before this migration have no directory: they keep the
-- project's name as theirs, so that they still release and pass on as
-- before. A lock held across the upgrade by a project whose directory is
-- not its name is therefore not the same lock as the one a merge request
-- planned after the upgrade asks for.
ALTER TABLE runs ADD COLUMN dir TEXT NOT NULL DEFAULT '';
UPDATE runs SET dir = project WHERE kind = 'plan';

ALTER TABLE locks RENAME COLUMN project TO dir;
ALTER TABLE locks ADD COLUMN project TEXT NOT NULL DEFAULT '';
UPDATE locks SET project = dir;

ALTER TABLE lock_queue RENAME COLUMN project TO dir;
ALTER TABLE lock_queue ADD COLUMN project TEXT NOT NULL DEFAULT '';
UPDATE lock_queue SET project = dir;
