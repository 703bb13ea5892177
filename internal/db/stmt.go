package db

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared read statements. SQLite parses a statement on
// every unprepared query (about a sixth of a one-row GET's CPU); a prepared
// *sql.Stmt is parsed once per connection and reused.
type stmtCache struct {
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, pool *sql.DB, q string) (*sql.Stmt, error) {
	c.mu.RLock()
	st := c.m[q]
	c.mu.RUnlock()
	if st != nil {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.m[q]; st != nil {
		return st, nil
	}
	st, err := pool.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	if len(c.m) > 1000 { // queries built from user input must not use this cache
		for k, s := range c.m {
			s.Close()
			delete(c.m, k)
		}
	}
	c.m[q] = st
	return st, nil
}

// QueryRow runs a read query through the prepared statement cache. Use it
// for hot queries whose text is a constant; the error, if any, surfaces at
// Scan as with sql.DB.QueryRowContext.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := db.reads.get(ctx, db.R, q)
	if err != nil {
		return db.R.QueryRowContext(ctx, q, args...) // reports the same error at Scan
	}
	return st.QueryRowContext(ctx, args...)
}

// Query runs a read query through the prepared statement cache.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := db.reads.get(ctx, db.R, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}
