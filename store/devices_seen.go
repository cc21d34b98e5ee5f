package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// SetDevicesLastSeen moves the last_seen of many partnerships forward in one
// statement: seen maps a partnership to when its device was last seen. A
// time not after the stored one changes nothing (last_seen never goes back),
// and a partnership that no longer exists (removed meanwhile) is skipped: the
// statement only updates, it never creates a row, and it does not fail for
// it. It returns how many rows moved. The devices registry calls it with the
// touches it collected in memory (devices/doc.go, "Writes"); the times are
// passed as one JSON parameter, so the number of partnerships is not bounded
// by the databases' parameter limits.
func (s *Store) SetDevicesLastSeen(ctx context.Context, seen map[PartnershipID]time.Time) (int, error) {
	if len(seen) == 0 {
		return 0, nil
	}
	// [[id,"2006-01-02T15:04:05.000000Z"],...]: the timestamp layout of every
	// stored time, so SQLite compares the text as it compares its own.
	buf := make([]byte, 0, len(seen)*(len(timestampLayout)+24)+2)
	buf = append(buf, '[')
	for id, t := range seen {
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = append(buf, '[')
		buf = strconv.AppendInt(buf, int64(id), 10)
		buf = append(buf, ',', '"')
		buf = t.UTC().AppendFormat(buf, timestampLayout)
		buf = append(buf, '"', ']')
	}
	buf = append(buf, ']')
	q := setSeenSQLite
	if s.dialect == dialectPostgres {
		q = setSeenPostgres
	}
	res := s.db.WithContext(ctx).Exec(q, string(buf))
	if res.Error != nil {
		return 0, fmt.Errorf("set last seen of %d devices: %w", len(seen), res.Error)
	}
	return int(res.RowsAffected), nil
}

const (
	setSeenSQLite = `UPDATE devices SET last_seen = v.seen
		FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS seen FROM json_each(?)) AS v
		WHERE devices.id = v.id AND v.seen > devices.last_seen`
	setSeenPostgres = `UPDATE devices SET last_seen = v.seen
		FROM (SELECT (e->>0)::bigint AS id, (e->>1)::timestamptz AS seen
			FROM jsonb_array_elements(CAST(? AS jsonb)) AS e) AS v
		WHERE devices.id = v.id AND v.seen > devices.last_seen`
)
