-- settled_at records that what follows a succeeded apply was done (its
-- project lock released on a merged merge request, the applies that
-- waited for it started, the linked issues told); NULL until then, so a
-- recovery pass finds the applies whose job ended, or whose server died,
-- before it was. Applies that succeeded before this column count as
-- settled.
ALTER TABLE runs ADD COLUMN settled_at BIGINT;
UPDATE runs SET settled_at = finished_at WHERE kind = 'apply' AND state = 'succeeded';
CREATE INDEX runs_unsettled ON runs (id) WHERE kind = 'apply' AND state = 'succeeded' AND settled_at IS NULL;
