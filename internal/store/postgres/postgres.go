// Package postgres opens Sluice's store in PostgreSQL (jackc/pgx/v5), for
// several server replicas sharing one database.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sluicehq/sluice/internal/store/sqlstore"
)

// Open connects to the database at url (a postgres:// URL or a key=value
// string; pgxpool's pool_* parameters apply) and opens the store over a
// pool of its own, which the store's Close closes. To share a pool with
// River (riverpgxv5), create it with pgxpool and use New.
func Open(ctx context.Context, url string) (*sqlstore.Store, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	db := sql.OpenDB(owningConnector{Connector: stdlib.GetPoolConnector(pool), pool: pool})
	db.SetMaxIdleConns(0) // idle connections stay in the pgx pool, as stdlib.OpenDBFromPool does
	s, err := open(ctx, db)
	if err != nil {
		db.Close() // closes the pool too
		return nil, err
	}
	return s, nil
}

// New opens the store over pool, which stays the caller's: close it after
// the store.
func New(ctx context.Context, pool *pgxpool.Pool) (*sqlstore.Store, error) {
	db := stdlib.OpenDBFromPool(pool)
	s, err := open(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func open(ctx context.Context, db *sql.DB) (*sqlstore.Store, error) {
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	s, err := sqlstore.Open(ctx, db, sqlstore.Postgres)
	if err != nil {
		return nil, fmt.Errorf("opening store in PostgreSQL: %w", err)
	}
	return s, nil
}

// owningConnector closes its pool when database/sql closes the *sql.DB
// (sql.DB.Close calls a connector's Close).
type owningConnector struct {
	driver.Connector
	pool *pgxpool.Pool
}

func (c owningConnector) Close() error {
	c.pool.Close()
	return nil
}
