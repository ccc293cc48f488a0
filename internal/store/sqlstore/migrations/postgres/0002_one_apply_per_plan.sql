-- A stored plan is applied by one apply run at most: a second apply run of
-- the same plan cannot even be created.
CREATE UNIQUE INDEX runs_one_apply_per_plan ON runs (plan_id) WHERE kind = 'apply';
