package eas_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

type moveResult struct {
	Src    string
	Status int
	Dst    string
}

func moveItems(t *testing.T, c *easclient.Client, moves ...[3]string) ([]moveResult, int) {
	t.Helper()
	body := encode(t, func(enc *wbxml.Encoder) {
		enc.Start(wbxml.MoveMoveItems)
		for _, m := range moves {
			enc.Start(wbxml.MoveMove)
			enc.String(wbxml.MoveSrcMsgId, m[0])
			enc.String(wbxml.MoveSrcFldId, m[1])
			enc.String(wbxml.MoveDstFldId, m[2])
			enc.End()
		}
		enc.End()
	})
	resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdMoveItems, Body: body})
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	toks, err := resp.Tokens()
	require.NoError(t, err)
	var out []moveResult
	top := 0
	for i := 0; i+1 < len(toks); i++ {
		tok := toks[i]
		if tok.Kind != wbxml.KindStart {
			continue
		}
		v := string(toks[i+1].Data)
		switch tok.Tag {
		case wbxml.MoveResponse:
			out = append(out, moveResult{})
		case wbxml.MoveSrcMsgId:
			out[len(out)-1].Src = v
		case wbxml.MoveDstMsgId:
			out[len(out)-1].Dst = v
		case wbxml.MoveStatus:
			n := mustAtoi(t, v)
			if len(out) == 0 {
				top = n
			} else {
				out[len(out)-1].Status = n
			}
		}
	}
	return out, top
}

func TestMoveItems(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newMailEnv(t, st)
		c := env.client("dev")
		inbox, deleted := env.folderID(t, store.FolderInbox), env.folderID(t, store.FolderDeleted)
		cal := env.folderID(t, store.FolderCalendar)
		a, err := st.Deliver(t.Context(), env.user.Address, testMessage)
		require.NoError(t, err)
		b, err := st.Deliver(t.Context(), env.user.Address, testMessage)
		require.NoError(t, err)
		other, err := st.CreateUser(t.Context(), store.NewUser{Address: "eve@example.com", Password: "pw"})
		require.NoError(t, err)
		foreign, err := st.Deliver(t.Context(), other.Address, testMessage)
		require.NoError(t, err)
		s := func(v any) string { return fmt.Sprint(v) }

		res, top := moveItems(t, c,
			[3]string{s(a.ID), s(inbox), s(deleted)},                // 3 success
			[3]string{s(a.ID), s(inbox), s(deleted)},                // 1: not in the source any more
			[3]string{s(b.ID), "999999", s(deleted)},                // 1: unknown source folder
			[3]string{"999999", s(inbox), s(deleted)},               // 1: unknown item
			[3]string{"x", s(inbox), s(deleted)},                    // 1: not a ServerId
			[3]string{s(foreign.ID), s(foreign.Folder), s(deleted)}, // 1: another user's folder
			[3]string{s(b.ID), s(inbox), "999999"},                  // 2: unknown destination
			[3]string{s(b.ID), s(inbox), s(cal)},                    // 2: a calendar cannot hold mail
			[3]string{s(b.ID), s(inbox), s(inbox)},                  // 4: same folder
		)
		assert.Zero(t, top)
		assert.Equal(t, []moveResult{
			{s(a.ID), 3, s(a.ID)}, {s(a.ID), 1, ""}, {s(b.ID), 1, ""}, {"999999", 1, ""}, {"x", 1, ""},
			{s(foreign.ID), 1, ""}, {s(b.ID), 2, ""}, {s(b.ID), 2, ""}, {s(b.ID), 4, ""},
		}, res)
		it, err := st.Item(t.Context(), a.ID)
		require.NoError(t, err)
		assert.Equal(t, deleted, it.Folder)
		it, err = st.Item(t.Context(), foreign.ID)
		require.NoError(t, err)
		assert.Equal(t, foreign.Folder, it.Folder, "another user's item did not move")

		// A malformed request gets the top-level status.
		resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdMoveItems, Body: xmlBody(t, `<MoveItems xmlns="Move"/>`)})
		require.NoError(t, err)
		n, err := resp.Status(wbxml.MoveStatus)
		require.NoError(t, err)
		assert.Equal(t, int(eas.StatusInvalidXML), n)
	})
}

// TestMoveItemsFailure: a store failure during the move answers 5 for that item.
func TestMoveItemsFailure(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	env := newMailEnv(t, st)
	c := env.client("dev")
	inbox, deleted := env.folderID(t, store.FolderInbox), env.folderID(t, store.FolderDeleted)
	a, err := st.Deliver(t.Context(), env.user.Address, testMessage)
	require.NoError(t, err)
	require.NoError(t, st.DB().Exec(`CREATE TRIGGER no_moves BEFORE UPDATE OF folder_id ON items BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`).Error)
	res, _ := moveItems(t, c, [3]string{fmt.Sprint(a.ID), fmt.Sprint(inbox), fmt.Sprint(deleted)})
	assert.Equal(t, []moveResult{{fmt.Sprint(a.ID), 5, ""}}, res)
	assert.Contains(t, env.logs.String(), "disk on fire")
}
