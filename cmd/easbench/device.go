package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/wbxml"
)

// device is one simulated phone: an easclient.Client plus what it keeps between requests.
// Not safe for concurrent use.
type device struct {
	c     *easclient.Client
	inbox string // Inbox ServerId from FolderSync
	key   string // Inbox Sync key
	held  int    // Adds received for the Inbox
	enc   *wbxml.Encoder
}

func newDevice(hc *http.Client, url, user, password, id string) *device {
	return &device{
		c: &easclient.Client{HTTP: hc, URL: url, Username: user, Password: password, User: user,
			DeviceID: id, DeviceType: "easbench", UserAgent: "easbench/1.0", Version: eas.Version161},
		enc: wbxml.NewEncoder(nil),
	}
}

// do sends one command and times it. An HTTP status other than 200 is an error.
func (d *device) do(ctx context.Context, cmd eas.CommandCode, body []byte) (*easclient.Response, time.Duration, error) {
	start := time.Now()
	resp, err := d.c.Do(ctx, &easclient.Request{Cmd: cmd, Body: body})
	lat := time.Since(start)
	if err != nil {
		return nil, lat, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp, lat, fmt.Errorf("%s: http %d", cmd, resp.StatusCode)
	}
	return resp, lat, nil
}

// provision runs the two Provision requests (MS-ASPROV 3.1.5.1: the initial request gets a
// temporary key, the acknowledgement with status 1 the final one) and keeps the final key.
func (d *device) provision(ctx context.Context, rec func(time.Duration)) error {
	d.c.HasPolicyKey = false
	key := ""
	for round := range 2 {
		e := d.enc
		e.Reset(nil)
		e.Start(wbxml.ProvisionProvision)
		if round == 0 {
			// MS-ASPROV 2.2.2.52: DeviceInformation in the initial request from 14.1 on.
			e.Start(wbxml.SettingsDeviceInformation)
			e.Start(wbxml.SettingsSet)
			e.String(wbxml.SettingsModel, "easbench")
			e.String(wbxml.SettingsFriendlyName, d.c.DeviceID)
			e.String(wbxml.SettingsOS, "easbench 1.0")
			e.String(wbxml.SettingsUserAgent, d.c.UserAgent)
			e.End()
			e.End()
		}
		e.Start(wbxml.ProvisionPolicies)
		e.Start(wbxml.ProvisionPolicy)
		e.String(wbxml.ProvisionPolicyType, "MS-EAS-Provisioning-WBXML")
		if round == 1 {
			e.String(wbxml.ProvisionPolicyKey, key)
			e.String(wbxml.ProvisionStatus, "1")
		}
		e.End()
		e.End()
		e.End()
		if err := e.Err(); err != nil {
			return err
		}
		resp, lat, err := d.do(ctx, eas.CmdProvision, e.Bytes())
		if err != nil {
			return err
		}
		rec(lat)
		var status string
		key, status = "", ""
		err = walk(resp.Body, func(path []wbxml.Tag, data []byte) {
			switch top(path) {
			case wbxml.ProvisionPolicyKey:
				key = string(data)
			case wbxml.ProvisionStatus:
				if len(path) == 2 { // Provision/Status
					status = string(data)
				}
			}
		})
		if err != nil {
			return fmt.Errorf("provision: %w", err)
		}
		if status != "1" || key == "" {
			return fmt.Errorf("provision round %d: status %q key %q", round+1, status, key)
		}
	}
	k, err := strconv.ParseUint(key, 10, 32)
	if err != nil {
		return fmt.Errorf("provision: policy key %q: %w", key, err)
	}
	d.c.PolicyKey, d.c.HasPolicyKey = uint32(k), true
	return nil
}

// folderSync runs FolderSync with key 0 and finds the Inbox (Type 2, MS-ASCMD 2.2.3.186.3).
func (d *device) folderSync(ctx context.Context, rec func(time.Duration)) error {
	e := d.enc
	e.Reset(nil)
	e.Start(wbxml.FolderHierarchyFolderSync)
	e.String(wbxml.FolderHierarchySyncKey, "0")
	e.End()
	if err := e.Err(); err != nil {
		return err
	}
	resp, lat, err := d.do(ctx, eas.CmdFolderSync, e.Bytes())
	if err != nil {
		return err
	}
	rec(lat)
	var status, id, typ string
	d.inbox = ""
	err = walk(resp.Body, func(path []wbxml.Tag, data []byte) {
		switch top(path) {
		case wbxml.FolderHierarchyStatus:
			status = string(data)
		case wbxml.FolderHierarchyServerId:
			id = string(data)
		case wbxml.FolderHierarchyType:
			typ = string(data)
		}
		if id != "" && typ != "" {
			if typ == "2" {
				d.inbox = id
			}
			id, typ = "", ""
		}
	})
	if err != nil {
		return fmt.Errorf("foldersync: %w", err)
	}
	if status != "1" || d.inbox == "" {
		return fmt.Errorf("foldersync: status %q inbox %q", status, d.inbox)
	}
	d.key, d.held = "0", 0
	return nil
}

// syncResult is what one Sync response said about the Inbox.
type syncResult struct {
	status int
	adds   int
	more   bool
}

// sync sends one Sync of the Inbox with the device's key (MS-ASCMD 2.2.1.21): key 0 gets the
// first key and no items; later keys ask for changes, window items at a time.
func (d *device) sync(ctx context.Context, window int) (syncResult, time.Duration, error) {
	e := d.enc
	e.Reset(nil)
	e.Start(wbxml.AirSyncSync)
	e.Start(wbxml.AirSyncCollections)
	e.Start(wbxml.AirSyncCollection)
	e.String(wbxml.AirSyncSyncKey, d.key)
	e.String(wbxml.AirSyncCollectionId, d.inbox)
	if d.key != "0" {
		e.Empty(wbxml.AirSyncGetChanges)
		e.Int(wbxml.AirSyncWindowSize, int64(window))
	}
	e.End()
	e.End()
	e.End()
	if err := e.Err(); err != nil {
		return syncResult{}, 0, err
	}
	resp, lat, err := d.do(ctx, eas.CmdSync, e.Bytes())
	if err != nil {
		return syncResult{}, lat, err
	}
	var r syncResult
	if len(resp.Body) == 0 {
		// MS-ASCMD 2.2.3.177.17: an empty answer means no changes in any collection.
		r.status = 1
		return r, lat, nil
	}
	key := ""
	err = walk(resp.Body, func(path []wbxml.Tag, data []byte) {
		switch top(path) {
		case wbxml.AirSyncStatus:
			r.status, _ = strconv.Atoi(string(data))
		case wbxml.AirSyncSyncKey:
			key = string(data)
		case wbxml.AirSyncMoreAvailable:
			r.more = true
		case wbxml.AirSyncServerId:
			if len(path) >= 2 && path[len(path)-2] == wbxml.AirSyncAdd {
				r.adds++
			}
		}
	})
	if err != nil {
		return r, lat, fmt.Errorf("sync: %w", err)
	}
	if r.status == 1 && key != "" {
		d.key = key
	}
	d.held += r.adds
	return r, lat, nil
}

// initialSync gets the first key, then loops on MoreAvailable (bounded by maxRounds) until
// the Inbox is loaded.
func (d *device) initialSync(ctx context.Context, window, maxRounds int, rec func(time.Duration)) error {
	d.key, d.held = "0", 0
	for range maxRounds {
		first := d.key == "0"
		r, lat, err := d.sync(ctx, window)
		if err != nil {
			return err
		}
		rec(lat)
		if r.status != 1 {
			return fmt.Errorf("initial sync: status %d", r.status)
		}
		if !first && !r.more {
			return nil
		}
	}
	return fmt.Errorf("initial sync: more than %d rounds", maxRounds)
}

// pingResult is a decoded Ping answer.
type pingResult struct {
	status  int
	folders []string
}

// pingBody is a Ping of one Email folder (MS-ASCMD 2.2.3.66 Folder).
func pingBody(heartbeat time.Duration, folder string) ([]byte, error) {
	e := wbxml.NewEncoder(nil)
	e.Start(wbxml.PingPing)
	e.Int(wbxml.PingHeartbeatInterval, int64(heartbeat/time.Second))
	e.Start(wbxml.PingFolders)
	e.Start(wbxml.PingFolder)
	e.String(wbxml.PingId, folder)
	e.String(wbxml.PingClass, "Email")
	e.End()
	e.End()
	e.End()
	return e.Bytes(), e.Err()
}

func parsePing(body []byte) (pingResult, error) {
	var r pingResult
	err := walk(body, func(path []wbxml.Tag, data []byte) {
		switch top(path) {
		case wbxml.PingStatus:
			r.status, _ = strconv.Atoi(string(data))
		case wbxml.PingFolder:
			r.folders = append(r.folders, string(data))
		}
	})
	return r, err
}

// walk calls fn for each string of a WBXML document with the path of open elements; an empty
// element (<MoreAvailable/>) is reported with nil data.
func walk(body []byte, fn func(path []wbxml.Tag, data []byte)) error {
	var path []wbxml.Tag
	dec := wbxml.NewDecoder(body)
	for {
		tok, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		switch tok.Kind {
		case wbxml.KindStart:
			path = append(path, tok.Tag)
			if !tok.Content {
				fn(path, nil)
				path = path[:len(path)-1]
			}
		case wbxml.KindEnd:
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
		case wbxml.KindString, wbxml.KindOpaque:
			fn(path, tok.Data)
		}
	}
}

func top(path []wbxml.Tag) wbxml.Tag {
	if len(path) == 0 {
		return 0
	}
	return path[len(path)-1]
}
