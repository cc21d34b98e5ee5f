package wbxml_test

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/easd/easd/wbxml"
)

func ExampleEncoder() {
	e := wbxml.NewEncoder(nil)
	e.Start(wbxml.FolderHierarchyFolderSync)
	e.String(wbxml.FolderHierarchySyncKey, "0")
	e.End()
	out := e.Bytes()
	if err := e.Err(); err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", out)
	// Output: 03 01 6a 00 00 07 56 52 03 30 00 01 01
}

func ExampleDecoder() {
	body := []byte{0x03, 0x01, 0x6a, 0x00, 0x00, 0x0d, 0x45, 0x48, 0x03, '9', '0', '0', 0x00, 0x01, 0x01}
	d := wbxml.NewDecoder(body)
	if _, err := d.Expect(wbxml.PingPing); err != nil {
		panic(err)
	}
	for {
		tok, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			panic(err)
		}
		if tok.Kind == wbxml.KindStart && tok.Tag == wbxml.PingHeartbeatInterval {
			n, err := d.Int()
			if err != nil {
				panic(err)
			}
			fmt.Println("heartbeat", n)
		}
	}
	// Output: heartbeat 900
}

func ExampleToXML() {
	e := wbxml.NewEncoder(nil)
	e.Start(wbxml.AirSyncSync)
	e.Start(wbxml.AirSyncCollections)
	e.Start(wbxml.AirSyncCollection)
	e.String(wbxml.AirSyncSyncKey, "0")
	e.String(wbxml.AirSyncCollectionId, "1")
	e.Start(wbxml.AirSyncOptions)
	e.Start(wbxml.AirSyncBaseBodyPreference)
	e.Int(wbxml.AirSyncBaseType, 2)
	e.End()
	e.End()
	e.Empty(wbxml.AirSyncGetChanges)
	e.End()
	e.End()
	e.End()
	if err := wbxml.ToXML(os.Stdout, e.Bytes()); err != nil {
		panic(err)
	}
	// Output:
	// <?xml version="1.0" encoding="utf-8"?>
	// <Sync xmlns="AirSync" xmlns:airsyncbase="AirSyncBase">
	//   <Collections>
	//     <Collection>
	//       <SyncKey>0</SyncKey>
	//       <CollectionId>1</CollectionId>
	//       <Options>
	//         <airsyncbase:BodyPreference>
	//           <airsyncbase:Type>2</airsyncbase:Type>
	//         </airsyncbase:BodyPreference>
	//       </Options>
	//       <GetChanges/>
	//     </Collection>
	//   </Collections>
	// </Sync>
}
