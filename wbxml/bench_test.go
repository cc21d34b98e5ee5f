package wbxml

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"testing"
)

// Benchmarks over the three corpora in testdata/bench:
//
//	go test ./wbxml -run='^$' -bench=. -benchmem -count=5
//
// BenchmarkBareSplit is the ceiling: a loop that only splits tokens, without validation or
// tables. BenchmarkEncodingXML is the baseline for the XML path: encoding/xml reading the
// same document as XML.

// BenchmarkTokenize runs Next over each corpus.
func BenchmarkTokenize(b *testing.B) {
	for _, c := range benchCorpora {
		in := loadBenchCorpus(b, c.name)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			d := new(Decoder)
			for b.Loop() {
				d.Reset(in)
				for {
					if _, err := d.Next(); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
	}
}

// BenchmarkBareSplit splits the corpora into tokens with no checks at all: the ceiling for
// BenchmarkTokenize.
func BenchmarkBareSplit(b *testing.B) {
	for _, c := range benchCorpora {
		in := loadBenchCorpus(b, c.name)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			n := 0
			for b.Loop() {
				n += bareSplit(in)
			}
			if n == 0 {
				b.Fatal("no tokens")
			}
		})
	}
}

// bareSplit counts the tokens of a well-formed EAS document (header 03 01 6A 00).
func bareSplit(in []byte) int {
	n := 0
	for i := 4; i < len(in); {
		switch in[i] {
		case tokSwitchPage:
			i += 2
			continue
		case tokStrI:
			i += 2 + bytes.IndexByte(in[i+1:], 0)
		case tokOpaque:
			var l int
			i++
			for in[i]&0x80 != 0 {
				l = l<<7 | int(in[i]&0x7F)
				i++
			}
			l = l<<7 | int(in[i])
			i += 1 + l
		default:
			i++
		}
		n++
	}
	return n
}

// BenchmarkDecodeToXML renders each corpus as XML into a warm buffer.
func BenchmarkDecodeToXML(b *testing.B) {
	for _, c := range benchCorpora {
		in := loadBenchCorpus(b, c.name)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			var out []byte
			var err error
			for b.Loop() {
				if out, err = AppendXML(out[:0], in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodingXML is the baseline for the XML path: encoding/xml tokenizing the XML form
// of each corpus. Its MB/s counts the WBXML size, like BenchmarkDecodeToXML, so the two
// compare the cost of the same information.
func BenchmarkEncodingXML(b *testing.B) {
	for _, c := range benchCorpora {
		in := loadBenchCorpus(b, c.name)
		x, err := os.ReadFile(benchPath(c.name, ".xml"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			r := bytes.NewReader(x)
			for b.Loop() {
				r.Reset(x)
				xd := xml.NewDecoder(r)
				for {
					if _, err := xd.Token(); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
	}
}

// BenchmarkEncode re-encodes each corpus from its pre-decoded token list into a warm buffer.
func BenchmarkEncode(b *testing.B) {
	for _, c := range benchCorpora {
		in := loadBenchCorpus(b, c.name)
		toks := tokensOf(b, in)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			e := NewEncoder(make([]byte, 0, len(in)))
			for b.Loop() {
				e.Reset(e.Bytes())
				replay(e, toks)
			}
			if e.Err() != nil || !bytes.Equal(e.Bytes(), in) {
				b.Fatal("re-encoding differs", e.Err())
			}
		})
	}
}

// BenchmarkFromXML encodes the XML form of each corpus.
func BenchmarkFromXML(b *testing.B) {
	for _, c := range benchCorpora {
		in := loadBenchCorpus(b, c.name)
		x, err := os.ReadFile(benchPath(c.name, ".xml"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			var out []byte
			for b.Loop() {
				if out, err = FromXML(out[:0], bytes.NewReader(x)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
