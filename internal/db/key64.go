package db

import (
	"crypto/md5"
	"database/sql/driver"
	"encoding/binary"
	"fmt"

	"modernc.org/sqlite"
)

// Key64 is a compact index key for long text whose values arrive in random
// order (holder id numbers): the first 8 bytes of MD5(s), big-endian, as a
// signed integer. An index of 8-byte keys is a quarter the size of one of
// the text and fits the page cache, so bulk inserts at random places stop
// reading and rewriting pages. MD5 is not a security choice here: a
// collision only makes a lookup compare one more row with the full value.
//
// The same key is computed in SQL for migrations and backfills: in SQLite
// as sharehub_key64(s), registered below; in PostgreSQL as
// ('x' || substr(md5(s), 1, 16))::bit(64)::bigint. TestKey64 checks that
// the three agree.
func Key64(s string) int64 {
	sum := md5.Sum([]byte(s))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

func init() {
	sqlite.MustRegisterDeterministicScalarFunction("sharehub_key64", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return Key64(v), nil
		case []byte:
			return Key64(string(v)), nil
		case nil:
			return nil, nil
		default:
			return nil, fmt.Errorf("sharehub_key64: want text, got %T", v)
		}
	})
}
