package eas_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// devItem is what the simulated device holds of one email.
type devItem struct{ read, flagged bool }

// devColl is the device's copy of one collection.
type devColl struct {
	id    string
	key   string
	items map[string]devItem
}

// TestSyncDroppedResponses is a device on a bad network: it often loses the answer to a
// Sync and sends the same request again, while the server side delivers, deletes, moves and
// flags mail and the device reads, flags and deletes mail and adds drafts. At the end the
// device's view equals the store: nothing lost, nothing twice, and every resent Add got the
// ServerId it got the first time. EASD_SYNC_SEED replays a failing run.
func TestSyncDroppedResponses(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed := uint64(time.Now().UnixNano())
		if s := os.Getenv("EASD_SYNC_SEED"); s != "" {
			seed, _ = strconv.ParseUint(s, 10, 64)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("seed %d (EASD_SYNC_SEED=%d replays it)", seed, seed)
			}
		})
		rounds := 300
		if testing.Short() {
			rounds = 60
		}
		runDroppedResponses(t, st, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), rounds)
	})
}

func runDroppedResponses(t *testing.T, st *store.Store, rng *rand.Rand, rounds int) {
	ctx := context.Background()
	se := newSyncEnv(t, st)
	c := se.client()
	inbox := &devColl{id: folderIDString(se.inbox), items: map[string]devItem{}}
	drafts := &devColl{id: folderIDString(se.drafts), items: map[string]devItem{}}
	colls := []*devColl{inbox, drafts}
	se.deliver(20)

	resp := se.do(c, syncBody(t, []collReq{{key: "0", id: inbox.id}, {key: "0", id: drafts.id}}, nil))
	for i, n := range parseWBXML(t, resp.Body).Child(wbxml.AirSyncCollections).All(wbxml.AirSyncCollection) {
		require.Equal(t, "1", n.Get(wbxml.AirSyncStatus))
		colls[i].key = n.Get(wbxml.AirSyncSyncKey)
	}

	nextClient := 0
	firstAdds := map[string]string{} // ClientId → ServerId from an answer the device lost
	drops, resentAdds := 0, 0
	serverOps := func() {
		items, err := st.Items(ctx, se.inbox.ID)
		require.NoError(t, err)
		for range rng.IntN(3) {
			switch p := rng.Float64(); {
			case p < 0.4 || len(items) == 0:
				se.deliver(1 + rng.IntN(3))
			case p < 0.55:
				it := items[rng.IntN(len(items))]
				if err := st.DeleteItem(ctx, it.ID); err != nil {
					require.ErrorIs(t, err, store.ErrNotFound)
				}
			case p < 0.65:
				it := items[rng.IntN(len(items))]
				_, err := st.MoveItem(ctx, it.ID, se.trash.ID)
				if err != nil {
					require.ErrorIs(t, err, store.ErrNotFound)
				}
			default:
				it := items[rng.IntN(len(items))]
				v := rng.IntN(2) == 0
				u := store.FlagsUpdate{Seen: &v}
				if rng.IntN(2) == 0 {
					u = store.FlagsUpdate{Flagged: &v}
				}
				if _, err := st.SetFlags(ctx, it.ID, u); err != nil {
					require.ErrorIs(t, err, store.ErrNotFound)
				}
			}
		}
	}

	for round := range rounds + 1000 {
		quiesce := round >= rounds
		if !quiesce {
			serverOps()
		}
		// The device's own commands, applied to its copy at once as a mail app does.
		var inboxCmds, draftCmds []func(enc *wbxml.Encoder)
		if !quiesce {
			held := slices.Sorted(mapsKeys(inbox.items))
			for range rng.IntN(3) {
				switch p := rng.Float64(); {
				case p < 0.5 && len(held) > 0:
					id := held[rng.IntN(len(held))]
					it, ok := inbox.items[id]
					if !ok {
						continue
					}
					read := !it.read
					flag := it.flagged
					if rng.IntN(2) == 0 {
						flag = !flag
						read = it.read
					}
					inbox.items[id] = devItem{read: read, flagged: flag}
					inboxCmds = append(inboxCmds, func(enc *wbxml.Encoder) {
						enc.Start(wbxml.AirSyncChange)
						enc.String(wbxml.AirSyncServerId, id)
						enc.Start(wbxml.AirSyncApplicationData)
						enc.Int(wbxml.EmailRead, boolNum(read))
						if flag {
							enc.Start(wbxml.EmailFlag)
							enc.Int(wbxml.EmailStatus, 2)
							enc.End()
						} else {
							enc.Empty(wbxml.EmailFlag)
						}
						enc.End()
						enc.End()
					})
				case p < 0.7 && len(held) > 0:
					id := held[rng.IntN(len(held))]
					if _, ok := inbox.items[id]; !ok {
						continue
					}
					delete(inbox.items, id)
					inboxCmds = append(inboxCmds, func(enc *wbxml.Encoder) {
						enc.Start(wbxml.AirSyncDelete)
						enc.String(wbxml.AirSyncServerId, id)
						enc.End()
					})
				default:
					nextClient++
					cid := "c" + strconv.Itoa(nextClient)
					draftCmds = append(draftCmds, func(enc *wbxml.Encoder) {
						enc.Start(wbxml.AirSyncAdd)
						enc.String(wbxml.AirSyncClientId, cid)
						enc.Start(wbxml.AirSyncApplicationData)
						enc.String(wbxml.EmailTo, "bob@example.com")
						enc.String(wbxml.EmailSubject, "draft "+cid)
						enc.Start(wbxml.AirSyncBaseBody)
						enc.Int(wbxml.AirSyncBaseType, 1)
						enc.String(wbxml.AirSyncBaseData, "draft body")
						enc.End()
						enc.End()
						enc.End()
					})
				}
			}
		}
		cmdsOf := func(fs []func(enc *wbxml.Encoder)) func(enc *wbxml.Encoder) {
			if len(fs) == 0 {
				return nil
			}
			return func(enc *wbxml.Encoder) {
				for _, f := range fs {
					f(enc)
				}
			}
		}
		window := 1 + rng.IntN(15)
		body := syncBody(t, []collReq{
			{key: inbox.key, id: inbox.id, window: window, commands: cmdsOf(inboxCmds)},
			{key: drafts.key, id: drafts.id, window: window, commands: cmdsOf(draftCmds)},
		}, nil)

		resp := se.do(c, body)
		// The network eats answers; the device sends the same request again.
		for !quiesce && rng.Float64() < 0.35 {
			drops++
			if len(resp.Body) > 0 {
				for _, n := range parseWBXML(t, resp.Body).Child(wbxml.AirSyncCollections).All(wbxml.AirSyncCollection) {
					for _, a := range n.Child(wbxml.AirSyncResponses).All(wbxml.AirSyncAdd) {
						if a.Get(wbxml.AirSyncStatus) == "1" {
							firstAdds[a.Get(wbxml.AirSyncClientId)] = a.Get(wbxml.AirSyncServerId)
						}
					}
				}
			}
			if rng.IntN(3) == 0 {
				serverOps() // the server moves on meanwhile
			}
			resp = se.do(c, body)
		}

		idle := true
		require.NotEmpty(t, resp.Body)
		answered := parseWBXML(t, resp.Body).Child(wbxml.AirSyncCollections).All(wbxml.AirSyncCollection)
		require.Len(t, answered, 2)
		for i, n := range answered {
			dc := colls[i]
			require.Equal(t, dc.id, n.Get(wbxml.AirSyncCollectionId))
			require.Equal(t, "1", n.Get(wbxml.AirSyncStatus), "round %d collection %s", round, dc.id)
			dc.key = n.Get(wbxml.AirSyncSyncKey)
			for _, a := range n.Child(wbxml.AirSyncResponses).All(wbxml.AirSyncAdd) {
				require.Equal(t, "1", a.Get(wbxml.AirSyncStatus))
				cid, sid := a.Get(wbxml.AirSyncClientId), a.Get(wbxml.AirSyncServerId)
				if first, ok := firstAdds[cid]; ok {
					require.Equal(t, first, sid, "resent add %s got another ServerId", cid)
					resentAdds++
				}
				_, dup := dc.items[sid]
				require.False(t, dup, "add response for held %s", sid)
				dc.items[sid] = devItem{read: true}
			}
			for _, r := range n.Child(wbxml.AirSyncResponses).All(wbxml.AirSyncChange) {
				require.Contains(t, []string{"7", "8"}, r.Get(wbxml.AirSyncStatus))
			}
			cmds := n.Child(wbxml.AirSyncCommands)
			if cmds != nil || n.Has(wbxml.AirSyncMoreAvailable) {
				idle = false
			}
			for _, cmd := range cmdsKids(cmds) {
				sid := cmd.Get(wbxml.AirSyncServerId)
				_, have := dc.items[sid]
				switch cmd.Tag {
				case wbxml.AirSyncAdd:
					require.False(t, have, "round %d: duplicate add %s", round, sid)
					dc.items[sid] = devItemOf(cmd)
				case wbxml.AirSyncChange:
					require.True(t, have, "round %d: change of unknown %s", round, sid)
					dc.items[sid] = devItemOf(cmd)
				case wbxml.AirSyncDelete, wbxml.AirSyncSoftDelete:
					require.True(t, have, "round %d: delete of unknown %s", round, sid)
					delete(dc.items, sid)
				}
			}
		}
		if quiesce && idle {
			break
		}
		require.Less(t, round, rounds+999, "the sync never settles")
	}

	for _, dc := range []struct {
		dev *devColl
		f   store.Folder
	}{{inbox, se.inbox}, {drafts, se.drafts}} {
		items, err := st.Items(ctx, dc.f.ID)
		require.NoError(t, err)
		want := map[string]devItem{}
		for _, it := range items {
			want[strconv.FormatInt(int64(it.ID), 10)] = devItem{read: it.Seen, flagged: it.Flagged}
		}
		require.Equal(t, want, dc.dev.items, "folder %s", dc.f.Name)
	}
	t.Logf("%d rounds, %d lost answers, %d resent adds, %d inbox items, %d drafts", rounds, drops, resentAdds, len(inbox.items), len(drafts.items))
	require.NoError(t, st.Check(ctx))
}

func cmdsKids(n *easclient.Node) []*easclient.Node {
	if n == nil {
		return nil
	}
	return n.Children
}

func devItemOf(cmd *easclient.Node) devItem {
	data := cmd.Child(wbxml.AirSyncApplicationData)
	flag := data.Child(wbxml.EmailFlag)
	return devItem{read: data.Get(wbxml.EmailRead) == "1", flagged: flag != nil && flag.Get(wbxml.EmailStatus) == "2"}
}

func boolNum(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func mapsKeys[K comparable, V any](m map[K]V) func(yield func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestSyncStaleKeyAfterTwoRounds: a key two rounds old is refused with 3, and the device
// recovers from 0.
func TestSyncStaleKeyAfterTwoRounds(t *testing.T) {
	st := openSyncStore(t)
	se := newSyncEnv(t, st)
	c := se.client()
	inbox := folderIDString(se.inbox)
	keys := []string{se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)}
	for i := range 3 {
		se.deliver(1)
		coll := se.sync(c, collReq{key: keys[len(keys)-1], id: inbox})
		require.Equal(t, "1", coll.Get(wbxml.AirSyncStatus), "round %d", i)
		keys = append(keys, coll.Get(wbxml.AirSyncSyncKey))
	}
	coll := se.sync(c, collReq{key: keys[len(keys)-3], id: inbox})
	require.Equal(t, "3", coll.Get(wbxml.AirSyncStatus))
	// The previous key still replays.
	coll = se.sync(c, collReq{key: keys[len(keys)-2], id: inbox})
	require.Equal(t, "1", coll.Get(wbxml.AirSyncStatus))
	require.Len(t, commandIDs(coll, wbxml.AirSyncAdd), 1)
	// Starting over gets everything again.
	k := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
	coll = se.sync(c, collReq{key: k, id: inbox})
	require.Len(t, commandIDs(coll, wbxml.AirSyncAdd), 3, fmt.Sprint(coll.Get(wbxml.AirSyncStatus)))
}
