package wbxml

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const xmlDecl = `<?xml version="1.0" encoding="utf-8"?>` + "\n"

func TestToXML(t *testing.T) {
	tests := []struct {
		name  string
		write func(e *Encoder)
		want  string
	}{
		{
			name:  "empty root",
			write: func(e *Encoder) { e.Empty(PingPing) },
			want:  `<Ping xmlns="Ping"/>` + "\n",
		},
		{
			name: "namespaces, empty forms and escaping",
			write: func(e *Encoder) {
				e.Start(AirSyncSync)
				e.Start(AirSyncCollections)
				e.Start(AirSyncCollection)
				e.String(AirSyncSyncKey, "0")
				e.Empty(AirSyncGetChanges)
				e.Start(AirSyncDeletesAsMoves)
				e.End()
				e.String(EmailSubject, "a < b & c > d\r\n")
				e.String(AirSyncBaseData, "  ")
				e.End()
				e.End()
				e.End()
			},
			want: `<Sync xmlns="AirSync" xmlns:airsyncbase="AirSyncBase" xmlns:email="Email">
  <Collections>
    <Collection>
      <SyncKey>0</SyncKey>
      <GetChanges/>
      <DeletesAsMoves></DeletesAsMoves>
      <email:Subject>a &lt; b &amp; c &gt; d&#xD;
</email:Subject>
      <airsyncbase:Data>  </airsyncbase:Data>
    </Collection>
  </Collections>
</Sync>
`,
		},
		{
			name: "wbxml attribute",
			write: func(e *Encoder) {
				e.Start(ComposeMailSendMail)
				e.String(ComposeMailClientId, "")
				e.StringBytes(ComposeMailAccountId, []byte{0x01, 'a'})
				e.StringBytes(ComposeMailItemId, []byte{0xFF})
				e.Opaque(ComposeMailMime, []byte("From: a\r\n\r\nhi"))
				e.Opaque(ComposeMailLongId, []byte{0, 1, 2})
				e.Opaque(ComposeMailFolderId, nil)
				e.End()
			},
			want: `<SendMail xmlns="ComposeMail">
  <ClientId wbxml="string-base64"></ClientId>
  <AccountId wbxml="string-base64">AWE=</AccountId>
  <ItemId wbxml="string-base64">/w==</ItemId>
  <Mime wbxml="opaque">From: a&#xD;
&#xD;
hi</Mime>
  <LongId wbxml="opaque-base64">AAEC</LongId>
  <FolderId wbxml="opaque"></FolderId>
</SendMail>
`,
		},
		{
			name: "mixed content is written flat",
			write: func(e *Encoder) {
				e.Start(NotesSubject)
				e.Text([]byte("a"))
				e.Start(NotesCategories)
				e.String(NotesCategory, "c")
				e.End()
				e.RawOpaque([]byte{0})
				e.End()
			},
			want: `<Subject xmlns="Notes">a<Categories><Category>c</Category></Categories>AA==</Subject>` + "\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := corpusDoc(t, tc.write)
			var b bytes.Buffer
			require.NoError(t, ToXML(&b, in))
			assert.Equal(t, xmlDecl+tc.want, b.String())
			// The output is well-formed XML.
			xd := xml.NewDecoder(&b)
			for {
				_, err := xd.Token()
				if err != nil {
					require.ErrorContains(t, err, "EOF")
					break
				}
			}
		})
	}
}

func TestToXMLWritesNothingOnError(t *testing.T) {
	var b bytes.Buffer
	err := ToXML(&b, doc(0x45, 0x45, 0x03, 'x'))
	require.ErrorIs(t, err, ErrTruncated)
	assert.Zero(t, b.Len())
}

// TestXMLRoundTrip: FromXML(ToXML(doc)) == doc for the corpora and the unit documents.
func TestXMLRoundTrip(t *testing.T) {
	for _, c := range benchCorpora {
		t.Run(c.name, func(t *testing.T) {
			in := loadBenchCorpus(t, c.name)
			var x bytes.Buffer
			require.NoError(t, ToXML(&x, in))
			out, err := FromXML(nil, &x)
			require.NoError(t, err)
			assert.Equal(t, in, out)
		})
	}
}

func TestFromXML(t *testing.T) {
	tests := []struct {
		name string
		xml  string
		want []byte
	}{
		{
			name: "prefixes of any name and a DOCTYPE",
			xml: `<?xml version="1.0"?>
<!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" "http://www.microsoft.com/">
<!-- a comment -->
<A:FolderSync xmlns:A="FolderHierarchy"><A:SyncKey>0</A:SyncKey></A:FolderSync>`,
			want: doc(0x00, 0x07, 0x56, 0x52, 0x03, '0', 0x00, 0x01, 0x01),
		},
		{
			name: "redeclared default namespace",
			xml: `<Sync xmlns="AirSync"><Collections><Collection><ApplicationData>
<Subject xmlns="Email">s</Subject><Body xmlns="AirSyncBase"><Type>1</Type></Body>
</ApplicationData></Collection></Collections></Sync>`,
			want: doc(0x45, 0x5C, 0x4F, 0x5D, 0x00, 0x02, 0x54, 0x03, 's', 0x00, 0x01,
				0x00, 0x11, 0x4A, 0x46, 0x03, '1', 0x00, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01),
		},
		{
			name: "text taken exactly, CDATA, entities",
			xml:  "<Ping xmlns='Ping'><Folders>\n  <Folder><Id> a&#xD;\n<![CDATA[<b>]]></Id></Folder>\n</Folders></Ping>",
			want: doc(0x00, 0x0D, 0x45, 0x49, 0x4A, 0x4B, 0x03, ' ', 'a', '\r', '\n', '<', 'b', '>', 0x00, 0x01, 0x01, 0x01, 0x01),
		},
		{
			name: "empty element forms",
			xml:  `<Sync xmlns="AirSync"><GetChanges/><GetChanges></GetChanges><GetChanges />  </Sync>`,
			want: doc(0x45, 0x13, 0x53, 0x01, 0x13, 0x01),
		},
		{
			name: "opaque with whitespace in base64",
			xml: `<Sync xmlns="AirSync"><Data xmlns="ItemOperations" wbxml="opaque-base64">AA E
C</Data></Sync>`,
			want: doc(0x45, 0x00, 0x14, 0x4C, 0xC3, 0x03, 0x00, 0x01, 0x02, 0x01, 0x01),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromXML(make([]byte, 10), strings.NewReader(tc.xml))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestFromXMLErrors(t *testing.T) {
	tests := []struct {
		name, xml, want string
	}{
		{"unknown namespace", `<Sync xmlns="Nope"/>`, `unknown element Sync in namespace "Nope"`},
		{"no namespace", `<Sync/>`, `unknown element Sync in namespace ""`},
		{"unknown element", "<Sync xmlns=\"AirSync\">\n<Nope/></Sync>", "xml line 2: unknown element Nope"},
		{"attribute", `<Sync xmlns="AirSync" id="1"/>`, "unexpected attribute id"},
		{"bad wbxml value", `<Sync xmlns="AirSync"><SyncKey wbxml="x">1</SyncKey></Sync>`, `unknown wbxml="x"`},
		{"bad base64", `<Sync xmlns="AirSync"><SyncKey wbxml="string-base64">!</SyncKey></Sync>`, "invalid base64"},
		{"child of opaque", `<Sync xmlns="AirSync"><SyncKey wbxml="opaque"><Sync/></SyncKey></Sync>`, "inside an element marked"},
		{"two roots", `<Sync xmlns="AirSync"/><Sync xmlns="AirSync"/>`, "second root element"},
		{"text outside", `<Sync xmlns="AirSync"/>x`, "text outside the root element"},
		{"not XML", `<Sync xmlns="AirSync">`, "wbxml: XML syntax error"},
		{"empty", ``, "no root element"},
		{"NUL via base64", `<Sync xmlns="AirSync"><SyncKey wbxml="string-base64">AA==</SyncKey></Sync>`, "NUL in a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromXML(nil, strings.NewReader(tc.xml))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestAppendXMLAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	in := loadBenchCorpus(t, "sync50")
	buf, err := AppendXML(nil, in)
	require.NoError(t, err)
	assert.Zero(t, testing.AllocsPerRun(5, func() { buf, _ = AppendXML(buf[:0], in) }))
}
