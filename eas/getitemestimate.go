package eas

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// GetItemEstimate statuses (MS-ASCMD 2.2.3.177.7 Status (GetItemEstimate)).
const (
	EstimateStatusInvalidCollection Status = 2 // the collection does not exist or is not of a synchronizable class
	EstimateStatusNotPrimed         Status = 3 // no sync state yet: the client must Sync with key 0 first
	EstimateStatusInvalidKey        Status = 4 // the sync key is not the current one
)

// estimateStatus writes a status-only GetItemEstimate answer: the Status lives in Response
// (MS-ASCMD 2.2.3.153.1 Response (GetItemEstimate)).
func estimateStatus(enc *wbxml.Encoder, st Status) {
	enc.Start(wbxml.GetItemEstimateGetItemEstimate)
	enc.Start(wbxml.GetItemEstimateResponse)
	enc.Int(wbxml.GetItemEstimateStatus, int64(st))
	enc.End()
	enc.End()
}

// estimateColl is one Collection of a GetItemEstimate request.
type estimateColl struct {
	id     string
	key    string
	filter *int
}

// getItemEstimate answers how many commands the next Sync of each collection would send
// (MS-ASCMD 2.2.1.9), counting the change log like Sync does and the rest of the initial
// load within the filter window, without changing any state.
func (s *Syncer) getItemEstimate(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
	colls, err := readEstimateRequest(dec)
	if err != nil {
		return err
	}
	enc.Start(wbxml.GetItemEstimateGetItemEstimate)
	for _, c := range colls {
		st, n := s.estimate(ctx, r, c)
		if st == 0 {
			return n.err
		}
		enc.Start(wbxml.GetItemEstimateResponse)
		enc.Int(wbxml.GetItemEstimateStatus, int64(st))
		enc.Start(wbxml.GetItemEstimateCollection)
		enc.String(wbxml.GetItemEstimateCollectionId, c.id)
		if st == StatusSuccess {
			enc.Int(wbxml.GetItemEstimateEstimate, int64(n.count))
		}
		enc.End()
		enc.End()
	}
	enc.End()
	return enc.Err()
}

type estimateResult struct {
	count int
	err   error
}

// estimate returns the status and count for one collection; status 0 with an error for a
// failure.
func (s *Syncer) estimate(ctx context.Context, r *Request, c estimateColl) (Status, estimateResult) {
	id, perr := strconv.ParseInt(c.id, 10, 64)
	f, err := s.st.Folder(ctx, store.FolderID(id))
	if perr != nil || errors.Is(err, store.ErrNotFound) || err == nil && (f.Mailbox != r.Account.Mailbox || !collectionAllowed(r, f)) {
		return EstimateStatusInvalidCollection, estimateResult{}
	} else if err != nil {
		return 0, estimateResult{err: err}
	}
	if c.key == "0" || c.key == "" {
		return EstimateStatusNotPrimed, estimateResult{}
	}
	st, err := s.st.SyncState(ctx, r.Account.ID, r.DeviceID, c.id)
	if errors.Is(err, store.ErrNotFound) {
		return EstimateStatusNotPrimed, estimateResult{}
	} else if err != nil {
		return 0, estimateResult{err: err}
	}
	gen, n, err := parseKey(c.key)
	if err != nil || gen != st.Generation || n != st.Counter {
		return EstimateStatusInvalidKey, estimateResult{}
	}
	snap, err := decodeSnapshot(st.State)
	if err != nil {
		return EstimateStatusInvalidKey, estimateResult{}
	}
	if c.filter != nil {
		snap.Opts.FilterType = *c.filter
	}
	only, err := visibleItems(ctx, s.st, r, f)
	if err != nil {
		return 0, estimateResult{err: err}
	}
	// The change log and the window, on a copy; the initial load is counted, not read
	// (except for a quarantined device, which sees only a few notices: they are read).
	cursor, loadEnd := snap.Cursor, snap.LoadEnd
	if only == nil {
		snap.Cursor, snap.LoadEnd = 0, 0
	}
	filterBefore := snap.Filter
	cmds, _, err := s.collect(ctx, r.Account.Mailbox, f, snap, only, math.MaxInt32, time.Now().Add(s.budget))
	if err != nil {
		return 0, estimateResult{err: err}
	}
	count := len(cmds)
	if wider(snap.Opts.FilterType, filterBefore) {
		cursor, loadEnd = 0, f.UIDNext
	}
	if only == nil && cursor+1 < loadEnd {
		var since time.Time
		if w := filterWindow(snap.Opts.FilterType); w > 0 {
			since = s.now().Add(-w)
		}
		k, err := s.st.CountItemsWindow(ctx, f.ID, cursor, loadEnd, since)
		if err != nil {
			return 0, estimateResult{err: err}
		}
		count += k
	}
	return StatusSuccess, estimateResult{count: count}
}

// readEstimateRequest decodes GetItemEstimate (MS-ASCMD 2.2.1.9.1). SyncKey and FilterType
// are AirSync elements; 12.x sends FilterType beside CollectionId, 14.0+ inside Options.
func readEstimateRequest(dec *wbxml.Decoder) ([]estimateColl, error) {
	tok, err := dec.Expect(wbxml.GetItemEstimateGetItemEstimate)
	if err != nil {
		return nil, err
	}
	var out []estimateColl
	if !tok.Content {
		return nil, nil
	}
	var c *estimateColl
	depthColl := -1
	for {
		t, more, err := dec.Child()
		if err != nil {
			return nil, err
		}
		if !more {
			if dec.Depth() == 0 {
				return out, nil
			}
			if c != nil && dec.Depth() < depthColl {
				out = append(out, *c)
				c = nil
			}
			continue
		}
		switch t.Tag {
		case wbxml.GetItemEstimateCollections, wbxml.AirSyncOptions:
			// containers: walk into them
		case wbxml.GetItemEstimateCollection:
			c = &estimateColl{}
			depthColl = dec.Depth()
			if !t.Content {
				out = append(out, *c)
				c = nil
			}
		case wbxml.GetItemEstimateCollectionId:
			s, err := dec.String()
			if err != nil {
				return nil, err
			}
			if c != nil {
				c.id = s
			}
		case wbxml.AirSyncSyncKey:
			s, err := dec.String()
			if err != nil {
				return nil, err
			}
			if c != nil {
				c.key = s
			}
		case wbxml.AirSyncFilterType:
			n, err := dec.Int()
			if err != nil {
				return nil, err
			}
			if c != nil && n >= 0 && n <= 8 {
				v := int(n)
				if v == 8 {
					v = 0
				}
				c.filter = &v
			}
		default:
			if err := dec.Skip(); err != nil {
				return nil, err
			}
		}
	}
}
